/**
 * The public contract between services: every command and event, its schema version, the topic it
 * travels on and the key that keeps one aggregate's messages in order. Both producers and consumers
 * validate against these schemas.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { maxMessageBytes } from './config.ts';
import { SystemError } from './errors.ts';

export const TOPICS = {
  orderCommands: 'orders.commands',
  orderEvents: 'orders.events',
  orderValidations: 'order.validations',
  inventoryCommands: 'inventory.commands',
  inventoryEvents: 'inventory.events',
  commandReplies: 'command.replies',
  deadLetters: 'dead.letters',
} as const;
export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

const CheckType = z.enum(['INVENTORY_CHECK', 'FRAUD_CHECK', 'ORDER_DETAILS_CHECK']);
const ValidationResult = z.enum(['PASS', 'FAIL']);
export type CheckType = z.infer<typeof CheckType>;
export type ValidationResult = z.infer<typeof ValidationResult>;
export const CHECK_TYPES: readonly CheckType[] = CheckType.options;
const verdict = z.object({ checkType: CheckType, result: ValidationResult, reason: z.string().nullable() });

// Commands carry what the client asked for, unchecked by business rules: services decide.
const commandSchemas = {
  PlaceOrder: z.object({
    orderId: z.string().min(1),
    customerId: z.string(),
    product: z.string(),
    quantity: z.number().int(),
    price: z.number(),
  }),
  AddInventory: z.object({ product: z.string().min(1), quantity: z.number().int() }),
};

const eventSchemas = {
  OrderCreated: z.object({
    orderId: z.string().min(1),
    customerId: z.string(),
    product: z.string(),
    quantity: z.number().int(),
    price: z.number(),
  }),
  /** Carries every verdict, so whoever reads the outcome has its reasons in the same fact. */
  OrderValidated: z.object({ orderId: z.string().min(1), checks: z.array(verdict) }),
  /** Also names the product, so inventory can release the order's reservation. */
  OrderFailed: z.object({ orderId: z.string().min(1), product: z.string(), checks: z.array(verdict) }),
  /** One check's verdict. It names the order it judged so a checker can rebuild its state from its own verdicts. */
  OrderCheckCompleted: z.object({
    orderId: z.string().min(1),
    checkType: CheckType,
    result: ValidationResult,
    reason: z.string().nullable(),
    customerId: z.string(),
    orderTotal: z.number(),
    orderedAt: z.iso.datetime(),
  }),
  StockAdded: z.object({ product: z.string().min(1), quantity: z.number().int().positive() }),
  StockReserved: z.object({ product: z.string().min(1), orderId: z.string(), quantity: z.number().int().positive() }),
  StockReservationRejected: z.object({
    product: z.string(),
    orderId: z.string(),
    quantity: z.number().int(),
    reason: z.string(),
  }),
  StockReleased: z.object({ product: z.string().min(1), orderId: z.string(), quantity: z.number().int().positive() }),
};

type Schemas<T extends Record<string, z.ZodType>> = { [K in keyof T]: z.infer<T[K]> };
type Union<M> = { [K in keyof M]: { type: K; data: M[K] } }[keyof M];

export type CommandData = Schemas<typeof commandSchemas>;
export type EventData = Schemas<typeof eventSchemas>;
export type Command = Union<CommandData>;
export type DomainEvent = Union<EventData>;
export type CommandType = Command['type'];
export type EventType = DomainEvent['type'];

interface Route<D> {
  topic: TopicName;
  schemaVersion: number;
  /** The aggregate id: the Kafka key, so all messages of one aggregate share a partition and stay in order. */
  key(data: D): string;
}

export const COMMAND_ROUTES: { [K in CommandType]: Route<CommandData[K]> } = {
  PlaceOrder: { topic: TOPICS.orderCommands, schemaVersion: 1, key: (d) => d.orderId },
  AddInventory: { topic: TOPICS.inventoryCommands, schemaVersion: 1, key: (d) => d.product },
};

export const EVENT_ROUTES: { [K in EventType]: Route<EventData[K]> } = {
  OrderCreated: { topic: TOPICS.orderEvents, schemaVersion: 1, key: (d) => d.orderId },
  OrderValidated: { topic: TOPICS.orderEvents, schemaVersion: 1, key: (d) => d.orderId },
  OrderFailed: { topic: TOPICS.orderEvents, schemaVersion: 1, key: (d) => d.orderId },
  OrderCheckCompleted: { topic: TOPICS.orderValidations, schemaVersion: 1, key: (d) => d.orderId },
  StockAdded: { topic: TOPICS.inventoryEvents, schemaVersion: 1, key: (d) => d.product },
  StockReserved: { topic: TOPICS.inventoryEvents, schemaVersion: 1, key: (d) => d.product },
  StockReservationRejected: { topic: TOPICS.inventoryEvents, schemaVersion: 1, key: (d) => d.product },
  StockReleased: { topic: TOPICS.inventoryEvents, schemaVersion: 1, key: (d) => d.product },
};

const envelopeFields = {
  schemaVersion: z.number().int().positive(),
  aggregateId: z.string().min(1),
  occurredAt: z.iso.datetime(),
};

interface EnvelopeMeta {
  schemaVersion: number;
  /** The aggregate the message belongs to; also its Kafka key. */
  aggregateId: string;
  occurredAt: string;
}

/** An immutable fact. `correlationId` is the id of the command that started the chain, `causationId` the message that caused this one. */
export type EventEnvelope<E extends DomainEvent = DomainEvent> = E extends DomainEvent
  ? EnvelopeMeta & {
      kind: 'event'; eventId: string; correlationId: string; causationId: string;
      /** The service that decided it (absent on events written by something else, or by older versions). */
      producer?: string;
      type: E['type']; data: E['data'];
    }
  : never;

export type CommandEnvelope<C extends Command = Command> = C extends Command
  ? EnvelopeMeta & { kind: 'command'; commandId: string; type: C['type']; data: C['data'] }
  : never;

/** The event of one type, e.g. `EventOf<'OrderCreated'>`. */
export type EventOf<T extends EventType> = EventEnvelope<Extract<DomainEvent, { type: T }>>;

export type Envelope = EventEnvelope | CommandEnvelope;

const eventEnvelopeSchema = z.object({
  kind: z.literal('event'),
  eventId: z.string().min(1),
  type: z.enum(Object.keys(eventSchemas) as [EventType, ...EventType[]]),
  correlationId: z.string().min(1),
  causationId: z.string().min(1),
  producer: z.string().min(1).optional(),
  data: z.unknown(),
  ...envelopeFields,
});
const commandEnvelopeSchema = z.object({
  kind: z.literal('command'),
  commandId: z.string().min(1),
  type: z.enum(Object.keys(commandSchemas) as [CommandType, ...CommandType[]]),
  data: z.unknown(),
  ...envelopeFields,
});
const envelopeSchema = z.discriminatedUnion('kind', [eventEnvelopeSchema, commandEnvelopeSchema]);

export function createCommand<C extends Command>(command: C, commandId: string = randomUUID()): CommandEnvelope<C> {
  const route = COMMAND_ROUTES[command.type] as Route<C['data']>;
  return checked({
    kind: 'command',
    commandId,
    type: command.type,
    schemaVersion: route.schemaVersion,
    aggregateId: route.key(command.data),
    occurredAt: new Date().toISOString(),
    data: command.data,
  }) as CommandEnvelope<C>;
}

export function createEvent<E extends DomainEvent>(event: E, cause: Envelope, now: Date, producer?: string): EventEnvelope<E> {
  const route = EVENT_ROUTES[event.type] as Route<E['data']>;
  return checked({
    kind: 'event',
    eventId: randomUUID(),
    type: event.type,
    schemaVersion: route.schemaVersion,
    aggregateId: route.key(event.data),
    occurredAt: now.toISOString(),
    correlationId: cause.kind === 'command' ? cause.commandId : cause.correlationId,
    causationId: messageId(cause),
    ...(producer && { producer }),
    data: event.data,
  }) as EventEnvelope<E>;
}

/**
 * Validates a message about to be written, and refuses one the broker would refuse: it is cheaper to say
 * so here, for one message, than to have a whole publish fail with a non-retriable error.
 */
function checked(value: unknown): Envelope {
  const envelope = validate(value);
  const bytes = Buffer.byteLength(JSON.stringify(envelope));
  if (bytes > maxMessageBytes()) {
    throw new SystemError('MESSAGE_TOO_LARGE', `${envelope.type} would be ${bytes} bytes; Kafka takes at most ${maxMessageBytes()}`);
  }
  return envelope;
}

function messageId(envelope: Envelope): string {
  return envelope.kind === 'command' ? envelope.commandId : envelope.eventId;
}

export function topicOf(envelope: Envelope): TopicName {
  return envelope.kind === 'command'
    ? COMMAND_ROUTES[envelope.type].topic
    : EVENT_ROUTES[envelope.type].topic;
}

/** Checks the envelope and its payload against the contract; throws INVALID_MESSAGE with the reason. */
export function validate(value: unknown): Envelope {
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) throw invalid('envelope', envelope.error);
  const { kind, type } = envelope.data;
  const dataSchema: z.ZodType =
    kind === 'event' ? eventSchemas[type as EventType] : commandSchemas[type as CommandType];
  const expectedVersion =
    kind === 'event' ? EVENT_ROUTES[type as EventType].schemaVersion : COMMAND_ROUTES[type as CommandType].schemaVersion;
  if (envelope.data.schemaVersion !== expectedVersion) {
    throw new SystemError('INVALID_MESSAGE', `${type} has schema version ${envelope.data.schemaVersion}, this build reads ${expectedVersion}`);
  }
  const data = dataSchema.safeParse(envelope.data.data);
  if (!data.success) throw invalid(type, data.error);
  return { ...envelope.data, data: data.data } as Envelope;
}

export function decode(buffer: Buffer | null): Envelope {
  if (!buffer) throw new SystemError('INVALID_MESSAGE', 'message has no value');
  let json: unknown;
  try {
    json = JSON.parse(buffer.toString('utf8'));
  } catch {
    throw new SystemError('INVALID_MESSAGE', 'message value is not JSON');
  }
  return validate(json);
}

function invalid(what: string, error: z.ZodError): SystemError {
  return new SystemError('INVALID_MESSAGE', `invalid ${what}: ${z.prettifyError(error).replace(/\n/g, '; ')}`);
}

/** What a command handler answers on `command.replies`, so the gateway learns the outcome of a command. */
export const commandReplySchema = z.object({
  commandId: z.string(),
  status: z.enum(['ACCEPTED', 'REJECTED']),
  code: z.string().optional(),
  message: z.string().optional(),
  /** Where the command's events landed: a reader waits until the projections have applied them. */
  positions: z.array(z.object({ topic: z.string(), partition: z.number().int(), offset: z.string() })),
});
export type CommandReply = z.infer<typeof commandReplySchema>;
export type LogPosition = CommandReply['positions'][number];

/** A check's verdict on the order an `OrderCreated` event describes. */
export function checkCompleted(
  created: EventOf<'OrderCreated'>,
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
