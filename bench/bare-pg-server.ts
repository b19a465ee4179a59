/**
 * The floor of the page bench (issue 10): bare `pg` writing the same JSON as the gateway's
 * `orders(first: 50) { … validations }` answer over node:http, with no GraphQL, no authentication and no ORM.
 * Run as its own process by bench/run.ts, as the gateway is; prints its port.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';

const PAGE = 50;
const pool = new pg.Pool({ connectionString: process.argv[2], max: Number(process.argv[3] ?? 16) });

interface OrderRow { id: string; customer_id: string; product: string; quantity: number; price: string; state: string; created_at: Date }
interface ValidationRow { order_id: string; check_type: string; result: string; reason: string | null }

async function page(): Promise<string> {
  const { rows: orders } = await pool.query<OrderRow>('SELECT * FROM orders ORDER BY created_at, id LIMIT $1', [PAGE + 1]);
  const { rows: validations } = await pool.query<ValidationRow>(
    'SELECT * FROM order_validations WHERE order_id = ANY($1) ORDER BY check_type', [orders.map((o) => o.id)],
  );
  const byOrder = new Map<string, { checkType: string; result: string; reason: string | null }[]>();
  for (const v of validations) byOrder.set(v.order_id, [...(byOrder.get(v.order_id) ?? []), { checkType: v.check_type, result: v.result, reason: v.reason }]);
  const edges = orders.slice(0, PAGE).map((o) => ({
    node: {
      id: o.id, customerId: o.customer_id, product: o.product, quantity: o.quantity, price: Number(o.price), state: o.state,
      createdAt: o.created_at.toISOString(), validations: byOrder.get(o.id) ?? [],
    },
  }));
  return JSON.stringify({ data: { orders: { edges } } });
}

const server = createServer((req, res) => {
  req.resume(); // the request body (the query) is not read: there is one page
  req.on('end', () => {
    page().then(
      (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(body),
      (error: Error) => res.writeHead(500).end(error.message),
    );
  });
});
server.listen(0, '127.0.0.1', () => console.log(`PORT ${(server.address() as AddressInfo).port}`));
