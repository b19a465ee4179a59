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
    // had in fact been written) is recognized here, in the same statement that records the ids.
    const fresh = new Set(
      (await tx.sql<{ event_id: string }>`
        INSERT INTO inventory_applied_events (event_id, product)
        SELECT * FROM unnest(${changes.map((c) => c.event.eventId)}::text[], ${changes.map((c) => c.delta.product)}::text[])
        ON CONFLICT DO NOTHING RETURNING event_id`).map((row) => row.event_id),
    );
    // Sum the batch per product first, then one statement for every product.
    const totals = new Map<string, { stock: number; reserved: number; at: Date }>();
    for (const { event, delta } of changes) {
      if (!fresh.delete(event.eventId)) continue; // counted before, or earlier in this batch
      const total = totals.get(delta.product) ?? { stock: 0, reserved: 0, at: new Date(0) };
      totals.set(delta.product, {
        stock: total.stock + delta.stock,
        reserved: total.reserved + delta.reserved,
        at: new Date(event.occurredAt),
      });
    }
    const rows = [...totals].map(([product, total]) => ({ product, ...total }));
    if (!rows.length) return;
    await tx.sql`
      INSERT INTO inventory_items (product, stock, reserved, updated_at)
      SELECT * FROM unnest(${rows.map((r) => r.product)}::text[], ${rows.map((r) => r.stock)}::int[],
                           ${rows.map((r) => r.reserved)}::int[], ${rows.map((r) => r.at)}::timestamptz[])
      ON CONFLICT (product) DO UPDATE SET stock = inventory_items.stock + EXCLUDED.stock,
        reserved = inventory_items.reserved + EXCLUDED.reserved, updated_at = EXCLUDED.updated_at`;
  },
};
