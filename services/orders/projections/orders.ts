/**
 * The orders read model: one row per order and one per check verdict, served by the gateway.
 * A batch is folded in memory first, then written with one statement per kind of change, each taking its rows as
 * arrays (`unnest`), so catching up on a long log costs few round trips and little CPU (Prisma's createMany for
 * the new orders cost the catch-up five times the CPU of the rest of this function, in its query compiler).
 */
import { assertNever } from '../../shared/errors.ts';
import type { Prisma } from '../../shared/db.ts';
import { ordersContract, type CheckType, type EventEnvelope, type OrdersContract, type ValidationResult } from '../contract.ts';
import type { ProjectionDefinition } from '../../shared/projector.ts';

type OrderState = 'CREATED' | 'VALIDATED' | 'FAILED';

interface CreatedOrder {
  id: string;
  customerId: string;
  product: string;
  quantity: number;
  price: number;
  currency: string;
  at: Date;
}

interface BatchChanges {
  created: CreatedOrder[];
  /** One per order and check: a verdict also arrives inside its order's terminal event. */
  verdicts: Map<string, Prisma.OrderValidationCreateManyInput>;
  /**
   * Per order, applied after the creations: its terminal state and that event's time, or else that it got a verdict
   * (its time is then computed from the verdict rows). An order's last change is its terminal event; a verdict
   * projected after it (another topic, or a copy decided again after a publish that timed out) changes nothing, so
   * the row does not depend on how topics and batches interleave, and a replay of the log gives the same row: the
   * fold of its history in time order (graphql/feed.ts `statesOf`, test/orders-fold.int.test.ts).
   */
  updates: Map<string, { state?: OrderState; updatedAt: Date }>;
}

export const ordersProjection: ProjectionDefinition<OrdersContract> = {
  ...ordersContract.projection('orders-projector'),
  contract: ordersContract,
  async apply(tx, events) {
    const changes: BatchChanges = { created: [], verdicts: new Map(), updates: new Map() };
    for (const event of events) collect(changes, event);
    const { created } = changes;
    if (created.length) {
      // A repeat of an order already projected changes nothing. The price goes as text, which PostgreSQL rounds to
      // the column's cents exactly as Prisma did.
      tx.queue`
        INSERT INTO orders (id, customer_id, product, quantity, price, currency, state, created_at, updated_at)
        SELECT c.id, c.customer_id, c.product, c.quantity, c.price, c.currency, 'CREATED', c.at, c.at
        FROM unnest(${created.map((c) => c.id)}::text[], ${created.map((c) => c.customerId)}::text[],
                    ${created.map((c) => c.product)}::text[], ${created.map((c) => c.quantity)}::int[],
                    ${created.map((c) => String(c.price))}::numeric[], ${created.map((c) => c.currency)}::text[],
                    ${created.map((c) => c.at.toISOString())}::timestamptz[])
          AS c(id, customer_id, product, quantity, price, currency, at)
        ON CONFLICT DO NOTHING`;
    }
    // A verdict is immutable (one per order and check). It is recorded at its earliest time, whichever of its
    // events (the check's, the terminal one's, a repeat) is projected first: a replay gives the same rows.
    const verdicts = [...changes.verdicts.values()];
    if (verdicts.length) {
      tx.queue`
        INSERT INTO order_validations (order_id, check_type, result, reason, recorded_at)
        SELECT v.order_id, v.check_type::"CheckType", v.result::"ValidationResult", v.reason, v.at
        FROM unnest(${verdicts.map((v) => v.orderId)}::text[], ${verdicts.map((v) => v.checkType)}::text[],
                    ${verdicts.map((v) => v.result)}::text[], ${verdicts.map((v) => v.reason ?? null)}::text[],
                    ${verdicts.map((v) => (v.recordedAt as Date).toISOString())}::timestamptz[]) AS v(order_id, check_type, result, reason, at)
        ON CONFLICT (order_id, check_type) DO UPDATE SET recorded_at = LEAST(order_validations.recorded_at, EXCLUDED.recorded_at)`;
    }
    const updates = [...changes.updates];
    const terminal = updates.filter(([, u]) => u.state);
    const touched = updates.filter(([, u]) => !u.state);
    // One statement each for the whole batch (Prisma's updateMany cannot take a value per row).
    if (terminal.length) {
      tx.queue`
        UPDATE orders o SET state = u.state::"OrderState", updated_at = u.at
        FROM unnest(${terminal.map(([id]) => id)}::text[], ${terminal.map(([, u]) => u.state)}::text[],
                    ${terminal.map(([, u]) => u.updatedAt.toISOString())}::timestamptz[]) AS u(id, state, at)
        WHERE o.id = u.id AND o.state = 'CREATED'`;
    }
    // An order not ended yet changed last with its latest verdict (each at its first time): computed from the rows,
    // so a verdict projected before its order (another topic), or decided again later, does not change the answer.
    const open = [...new Set([...created.map((c) => c.id), ...touched.map(([id]) => id)])];
    if (open.length) {
      tx.queue`
        UPDATE orders o SET updated_at = GREATEST(o.created_at, v.latest)
        FROM (SELECT order_id, max(recorded_at) AS latest FROM order_validations WHERE order_id = ANY(${open}::text[]) GROUP BY order_id) v
        WHERE o.id = v.order_id AND o.state = 'CREATED'`;
    }
  },
};

function addVerdict(
  changes: BatchChanges,
  orderId: string,
  { checkType, result, reason }: { checkType: CheckType; result: ValidationResult; reason: string | null },
  recordedAt: Date,
): void {
  const key = `${orderId}\u0000${checkType}`;
  const earlier = changes.verdicts.get(key);
  if (!earlier || (earlier.recordedAt as Date) > recordedAt) changes.verdicts.set(key, { orderId, checkType, result, reason, recordedAt });
}

function collect(changes: BatchChanges, event: EventEnvelope): void {
  const at = new Date(event.occurredAt);
  const touch = (id: string, state?: OrderState) => {
    const previous = changes.updates.get(id);
    if (previous?.state) return; // ended already: its terminal event was its last change (a repeat of it included)
    if (state) changes.updates.set(id, { state, updatedAt: at });
    else changes.updates.set(id, { updatedAt: previous && previous.updatedAt > at ? previous.updatedAt : at });
  };
  switch (event.type) {
    case 'OrderCreated': {
      const { orderId: id, customerId, product, quantity, price, currency } = event.data;
      changes.created.push({ id, customerId, product, quantity, price, currency, at });
      return;
    }
    case 'OrderCheckCompleted':
      addVerdict(changes, event.data.orderId, event.data, at);
      touch(event.data.orderId);
      return;
    case 'OrderValidated':
    case 'OrderFailed': {
      // The verdicts topic is projected in its own batches; the terminal event carries them, so an order
      // is never seen terminal without its reasons.
      for (const check of event.data.checks) addVerdict(changes, event.data.orderId, check, at);
      touch(event.data.orderId, event.type === 'OrderValidated' ? 'VALIDATED' : 'FAILED');
      return;
    }
    case 'StockAdded':
    case 'StockReserved':
    case 'StockReservationFailed':
    case 'StockReleased':
      return;
    default:
      assertNever(event);
  }
}
