/** The inventory read model: stock and reservations per product. */
import { ordersContract, type EventEnvelope, type OrdersContract } from '../contract.ts';
import type { ProjectionDefinition } from '../../shared/projector.ts';

/** Stock and reservation changes of one event, or null when it changes neither. */
function change(event: EventEnvelope): { product: string; stock: number; reserved: number } | null {
  switch (event.type) {
    case 'StockAdded':
      return { product: event.data.product, stock: event.data.quantity, reserved: 0 };
    case 'StockReserved':
      return { product: event.data.product, stock: 0, reserved: event.data.quantity };
    case 'StockReleased':
      return { product: event.data.product, stock: 0, reserved: -event.data.quantity };
    default:
      return null;
  }
}

export const inventoryProjection: ProjectionDefinition<OrdersContract> = {
  ...ordersContract.projection('inventory-projector'),
  contract: ordersContract,
  async apply(tx, events) {
    const changes = events.flatMap((event) => {
      const delta = change(event);
      return delta ? [{ event, delta }] : [];
    });
    if (!changes.length) return;
    // Counts are increments, so an event is counted once by id: a copy (a publish retried after a timeout that
    // had in fact been written) is recognized here. One statement, whose rows nobody reads, so that it goes with the
    // batch's COMMIT: the ids recorded, then the batch summed per product over the events recorded just now (first
    // copy in the batch only), each product updated once and dated by its last such event.
    tx.queue`
      WITH batch AS (
        SELECT * FROM unnest(${changes.map((c) => c.event.eventId)}::text[], ${changes.map((c) => c.delta.product)}::text[],
                             ${changes.map((c) => c.delta.stock)}::int[], ${changes.map((c) => c.delta.reserved)}::int[],
                             ${changes.map((c) => c.event.occurredAt)}::timestamptz[]) WITH ORDINALITY AS e(event_id, product, stock, reserved, at, position)
      ), recorded AS (
        INSERT INTO inventory_applied_events (event_id, product)
        SELECT event_id, product FROM batch ORDER BY position
        ON CONFLICT DO NOTHING RETURNING event_id
      ), counted AS (
        SELECT DISTINCT ON (event_id) batch.* FROM batch JOIN recorded USING (event_id) ORDER BY event_id, position
      )
      INSERT INTO inventory_items (product, stock, reserved, updated_at)
      SELECT product, sum(stock), sum(reserved), (array_agg(at ORDER BY position DESC))[1] FROM counted GROUP BY product
      ON CONFLICT (product) DO UPDATE SET stock = inventory_items.stock + EXCLUDED.stock,
        reserved = inventory_items.reserved + EXCLUDED.reserved, updated_at = EXCLUDED.updated_at`;
  },
};
