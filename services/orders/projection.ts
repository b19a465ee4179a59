/** The orders read model: one row per order and one per check verdict, served by the gateway. */
import { assertNever } from '../shared/errors.ts';
import type { Prisma } from '../shared/db.ts';
import { TOPICS, type EventEnvelope } from '../shared/messages.ts';
import type { ProjectionDefinition } from '../shared/projector.ts';

export const ordersProjection: ProjectionDefinition = {
  name: 'orders-projector',
  topics: [TOPICS.orderEvents, TOPICS.orderValidations],
  async apply(tx, events) {
    for (const event of events) await applyEvent(tx, event);
  },
};

async function applyEvent(tx: Prisma.TransactionClient, event: EventEnvelope): Promise<void> {
  const at = new Date(event.occurredAt);
  switch (event.type) {
    case 'OrderCreated': {
      const { orderId: id, ...details } = event.data;
      await tx.order.upsert({
        where: { id },
        create: { id, ...details, state: 'CREATED', createdAt: at, updatedAt: at },
        update: {},
      });
      return;
    }
    case 'OrderCheckCompleted': {
      const { orderId, checkType, result, reason } = event.data;
      await tx.orderValidation.upsert({
        where: { orderId_checkType: { orderId, checkType } },
        create: { orderId, checkType, result, reason, recordedAt: at },
        update: { result, reason, recordedAt: at },
      });
      await tx.order.updateMany({ where: { id: orderId }, data: { updatedAt: at } });
      return;
    }
    case 'OrderValidated':
      await tx.order.updateMany({ where: { id: event.data.orderId }, data: { state: 'VALIDATED', updatedAt: at } });
      return;
    case 'OrderFailed':
      await tx.order.updateMany({ where: { id: event.data.orderId }, data: { state: 'FAILED', updatedAt: at } });
      return;
    case 'StockAdded':
    case 'StockReserved':
    case 'StockReservationRejected':
    case 'StockReleased':
      return;
    default:
      assertNever(event);
  }
}
