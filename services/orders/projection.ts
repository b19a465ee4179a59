/** The orders read model: one row per order and one per check verdict, served by the gateway. */
import { assertNever } from '../shared/errors.ts';
import type { Prisma } from '../shared/db.ts';
import { TOPICS, type CheckType, type EventEnvelope, type ValidationResult } from '../shared/messages.ts';
import type { ProjectionDefinition } from '../shared/projector.ts';

export const ordersProjection: ProjectionDefinition = {
  name: 'orders-projector',
  topics: [TOPICS.orderEvents, TOPICS.orderValidations],
  async apply(tx, events) {
    for (const event of events) await applyEvent(tx, event);
  },
};

async function saveVerdict(
  tx: Prisma.TransactionClient,
  orderId: string,
  { checkType, result, reason }: { checkType: CheckType; result: ValidationResult; reason: string | null },
  at: Date,
): Promise<void> {
  await tx.orderValidation.upsert({
    where: { orderId_checkType: { orderId, checkType } },
    create: { orderId, checkType, result, reason, recordedAt: at },
    update: { result, reason },
  });
}

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
      await saveVerdict(tx, orderId, { checkType, result, reason }, at);
      await tx.order.updateMany({ where: { id: orderId }, data: { updatedAt: at } });
      return;
    }
    case 'OrderValidated':
    case 'OrderFailed': {
      const { orderId, checks } = event.data;
      // The verdicts topic is projected in its own batches; the terminal event carries them, so an order
      // is never seen terminal without its reasons.
      for (const check of checks) await saveVerdict(tx, orderId, check, at);
      const state = event.type === 'OrderValidated' ? 'VALIDATED' : 'FAILED';
      await tx.order.updateMany({ where: { id: orderId }, data: { state, updatedAt: at } });
      return;
    }
    case 'StockAdded':
    case 'StockReserved':
    case 'StockReservationRejected':
    case 'StockReleased':
      return;
    default:
      assertNever(event);
  }
}
