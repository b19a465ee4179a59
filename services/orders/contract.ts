/**
 * The orders domain's contract: its topics, commands, events and error codes, and the consumer groups of its
 * services and projections. Producers and consumers validate against it; the gateway reads it as metadata.
 */
import { z } from 'zod';
import {
  defineContract,
  type CommandEnvelope, type CommandOf, type EnvelopeOf, type EventEnvelope as AnyEventEnvelope, type EventOf,
} from '../shared/messages.ts';

export const TOPICS = {
  orderCommands: 'orders.commands',
  orderEvents: 'orders.events',
  orderValidations: 'order.validations',
  inventoryCommands: 'inventory.commands',
  inventoryEvents: 'inventory.events',
} as const;

const CheckType = z.enum(['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK']);
const ValidationResult = z.enum(['PASS', 'FAIL']);
export type CheckType = z.infer<typeof CheckType>;
export type ValidationResult = z.infer<typeof ValidationResult>;
export const CHECK_TYPES: readonly CheckType[] = CheckType.options;
const verdict = z.object({ checkType: CheckType, result: ValidationResult, reason: z.string().nullable() });

const orderDetails = {
  orderId: z.string().min(1),
  customerId: z.string(),
  product: z.string(),
  quantity: z.number().int(),
  price: z.number(),
  /** ISO 4217 code of the price. Added after the first orders: those in the log read as EUR. */
  currency: z.string().regex(/^[A-Z]{3}$/, 'a three-letter ISO 4217 code, e.g. EUR').default('EUR'),
};
const byOrder = (d: { orderId: string }) => d.orderId;
const byProduct = (d: { product: string }) => d.product;

export const ordersContract = defineContract({
  domain: 'orders',
  topics: Object.fromEntries(Object.values(TOPICS).map((topic) => [topic, {}])),
  // Commands carry what the client asked for, unchecked by business rules: services decide.
  commands: {
    PlaceOrder: { schema: z.object(orderDetails), topic: TOPICS.orderCommands, schemaVersion: 1, key: byOrder },
    AddInventory: {
      schema: z.object({ product: z.string().min(1), quantity: z.number().int() }),
      topic: TOPICS.inventoryCommands, schemaVersion: 1, key: byProduct,
    },
  },
  events: {
    OrderCreated: { schema: z.object(orderDetails), topic: TOPICS.orderEvents, schemaVersion: 1, key: byOrder },
    /** Carries every verdict, so whoever reads the outcome has its reasons in the same fact. */
    OrderValidated: {
      schema: z.object({ orderId: z.string().min(1), checks: z.array(verdict) }),
      topic: TOPICS.orderEvents, schemaVersion: 1, key: byOrder,
    },
    /** Also names the product, so inventory can release the order's reservation. */
    OrderFailed: {
      schema: z.object({ orderId: z.string().min(1), product: z.string(), checks: z.array(verdict) }),
      topic: TOPICS.orderEvents, schemaVersion: 1, key: byOrder,
    },
    /** One check's verdict. It names the order it judged so a checker can rebuild its state from its own verdicts. */
    OrderCheckCompleted: {
      schema: z.object({
        orderId: z.string().min(1),
        checkType: CheckType,
        result: ValidationResult,
        reason: z.string().nullable(),
        customerId: z.string(),
        orderTotal: z.number(),
        orderedAt: z.iso.datetime(),
      }),
      topic: TOPICS.orderValidations, schemaVersion: 1, key: byOrder,
    },
    StockAdded: {
      schema: z.object({ product: z.string().min(1), quantity: z.number().int().positive() }),
      topic: TOPICS.inventoryEvents, schemaVersion: 1, key: byProduct,
    },
    StockReserved: {
      schema: z.object({ product: z.string().min(1), orderId: z.string(), quantity: z.number().int().positive() }),
      topic: TOPICS.inventoryEvents, schemaVersion: 1, key: byProduct,
    },
    /** Named like the check's FAIL (a REJECTED answer is a refused command, which this is not); formerly StockReservationRejected. */
    StockReservationFailed: {
      schema: z.object({ product: z.string(), orderId: z.string(), quantity: z.number().int(), reason: z.string() }),
      topic: TOPICS.inventoryEvents, schemaVersion: 1, key: byProduct, formerly: ['StockReservationRejected'],
    },
    StockReleased: {
      schema: z.object({ product: z.string().min(1), orderId: z.string(), quantity: z.number().int().positive() }),
      topic: TOPICS.inventoryEvents, schemaVersion: 1, key: byProduct,
    },
  },
  roles: ['customer'],
  errorCodes: ['ORDER_ID_CONFLICT', 'INVALID_QUANTITY'],
  services: [
    { name: 'orders', inputs: [TOPICS.orderCommands, TOPICS.orderValidations] },
    { name: 'inventory', inputs: [TOPICS.inventoryCommands, TOPICS.orderEvents] },
    { name: 'fraud', inputs: [TOPICS.orderEvents] },
    { name: 'order-details', inputs: [TOPICS.orderEvents] },
  ],
  projections: [
    { name: 'orders-projector', process: 'orders', topics: [TOPICS.orderEvents, TOPICS.orderValidations], tables: ['orders', 'order_validations'] },
    { name: 'inventory-projector', process: 'inventory', topics: [TOPICS.inventoryEvents], tables: ['inventory_items', 'inventory_applied_events'] },
  ],
});

export type OrdersContract = typeof ordersContract;
export type Command = CommandOf<OrdersContract>;
export type DomainEvent = EventOf<OrdersContract>;
/** Any message of this domain: what its services decide on. */
export type Envelope = EnvelopeOf<OrdersContract>;
export type EventEnvelope<E extends DomainEvent = DomainEvent> = AnyEventEnvelope<E>;
export type { CommandEnvelope };
export type EventData = { [E in DomainEvent as E['type']]: E['data'] };
/** The event of one type, e.g. `EventOfType<'OrderCreated'>`. */
export type EventOfType<T extends DomainEvent['type']> = EventEnvelope<Extract<DomainEvent, { type: T }>>;

/** A check's verdict on the order an `OrderCreated` event describes. */
export function checkCompleted(
  created: EventOfType<'OrderCreated'>,
  checkType: CheckType,
  result: ValidationResult,
  reason: string | null = null,
): DomainEvent {
  const { orderId, customerId, quantity, price } = created.data;
  return {
    type: 'OrderCheckCompleted',
    data: { orderId, checkType, result, reason, customerId, orderTotal: quantity * price, orderedAt: created.occurredAt },
  };
}
