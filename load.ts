import { randomUUID } from 'node:crypto';
import { toolToken } from './gateway/auth.ts';
const url = process.argv[2];
const authorization = `Bearer ${await toolToken()}`; // an admin: it orders for many customers
const gql = async (query: string, variables?: any) => { const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ query, variables }) }); return (await r.json() as any).data; };
await gql(`mutation { addInventory(product: "LOAD", quantity: 1000000) { stock } }`);
const end = Date.now() + Number(process.argv[3] ?? 15000); let n = 0;
await Promise.all(Array.from({ length: 64 }, async () => { while (Date.now() < end) {
  const { placeOrder } = await gql(`mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id } }`, { i: { customerId: randomUUID(), product: 'LOAD', quantity: 1, price: 1 } });
  await gql(`query($id: ID!) { awaitOrder(id: $id) { state } }`, { id: placeOrder.id }); n++; } }));
console.log('orders/s', n / 15);
