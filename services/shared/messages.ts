/**
 * Messages on the log: the versioned envelope, and `defineContract`, with which a domain declares its topics,
 * commands, events and error codes. The runtime is typed by a domain's own message union, never a global one.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { maxMessageBytes } from './config.ts';
import { SystemError } from './errors.ts';
import { HEADER_BYTES as WIRE_HEADER_BYTES, jsonOf, schemaIds } from './wire.ts';

/** A topic a domain owns (or reads, when something else writes it). */
export interface TopicSpec {
  /** Keep only the latest message per key (a table on the log, e.g. a catalog). */
  compacted?: boolean;
  /**
   * Whether its events are part of their entities' histories, kept in the runtime's event index. Default: true.
   * False for a stream of readings no history reads (a driver's positions: thousands a second, each one row more).
   */
  history?: boolean;
  /** For a topic written from outside (e.g. Debezium): reads a message as a domain event, or undefined (a tombstone). */
  external?(message: RawMessage): EventEnvelope | undefined;
  /** The Kafka Connect connector that writes this topic (under TOPIC_PREFIX), reported by /readyz and /metrics. */
  connector?: string;
}

/** A service's topic for inputs forwarded to their state's partition, keyed by their state key (service.ts). */
export const repartitionTopic = (service: string): string => `${service}.repartition`;

/** Header of a forwarded message: the logical topic it was first written to, which says how to read it. */
export const ORIGIN_TOPIC_HEADER = 'origin-topic';

/**
 * The id of the `index`-th event decided from one input: deciding it again gives the same ids, so readers recognize
 * the copy. A version 8 UUID from SHA-256.
 */
export function decidedEventId(producer: string, causeId: string, index: number): string {
  const hex = createHash('sha256').update(`${producer}\n${causeId}\n${index}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A message as Kafka holds it. */
export interface RawMessage {
  key: Buffer | null;
  value: Buffer | null;
  /** Milliseconds since the epoch, as a string (kafkajs's form). */
  timestamp?: string;
}

/** Topics of the runtime itself, shared by every domain. */
export const RUNTIME_TOPICS = {
  commandReplies: 'command.replies',
  deadLetters: 'dead.letters',
} as const;

export interface MessageSpec<D = any> {
  schema: z.ZodType<D>;
  /** The logical topic it travels on. */
  topic: string;
  schemaVersion: number;
  /** The aggregate id: the Kafka key, so all messages of one aggregate share a partition and stay in order. */
  key(data: D): string;
  /**
   * Places the message by this key's partition instead of its aggregate id's, for a service whose state is keyed
   * otherwise (the rides dispatcher's, by region): the messages of one state then share a partition, in order,
   * while each keeps its aggregate's id as its key (for compaction and readers by aggregate). Must not change for
   * an aggregate while its messages are read in order.
   */
  partitionKey?(data: D): string;
  /**
   * How data an older build wrote reads as this version: `upcast[n]` turns version n's data into version n+1's, so the
   * log is never rewritten. A message of an older version with a step missing is refused (INVALID_MESSAGE).
   */
  upcast?: Record<number, (data: any) => unknown>;
  /** Names it had before (a renamed message): what was written under them reads as this one. */
  formerly?: readonly string[];
}

type Specs = Record<string, MessageSpec>;
type Union<M extends Specs> = { [K in keyof M & string]: { type: K; data: z.infer<M[K]['schema']> } }[keyof M & string];
/** What a writer gives: a field with a default may be left out (the envelope carries it filled in). */
type WrittenUnion<M extends Specs> = { [K in keyof M & string]: { type: K; data: z.input<M[K]['schema']> } }[keyof M & string];

/** Who asked for a command, carried by every event it causes. Absent on seeds, older messages and services' clocks. */
export interface Actor {
  sub: string;
  roles: string[];
}

const actorSchema = z.object({ sub: z.string().min(1).max(200), roles: z.array(z.string().min(1).max(50)).max(10) });

interface EnvelopeMeta {
  schemaVersion: number;
  actor?: Actor;
  /** The aggregate the message belongs to; also its Kafka key. */
  aggregateId: string;
  occurredAt: string;
}

/** An immutable fact. `correlationId` is the id of the command that started the chain, `causationId` the message that caused this one. */
export type EventEnvelope<E extends { type: string; data: unknown } = { type: string; data: unknown }> = E extends unknown
  ? EnvelopeMeta & {
      kind: 'event'; eventId: string; correlationId: string; causationId: string;
      /** The service that decided it (absent on events written by older versions). */
      producer?: string;
      type: E['type']; data: E['data'];
    }
  : never;

export type CommandEnvelope<C extends { type: string; data: unknown } = { type: string; data: unknown }> = C extends unknown
  ? EnvelopeMeta & { kind: 'command'; commandId: string; type: C['type']; data: C['data'] }
  : never;

export type AnyEnvelope = EventEnvelope | CommandEnvelope;

/** Where a message landed in the log. */
export interface LogPosition {
  topic: string;
  partition: number;
  offset: string;
}

/** A message ready for the bus: its physical topic is the bus's business. */
export interface Outgoing {
  topic: string;
  envelope: AnyEnvelope;
  /** Chooses its partition when it differs from the envelope's `aggregateId` (MessageSpec's `partitionKey`). */
  partitionKey?: string;
}

export interface ContractSpec<C extends Specs, E extends Specs, R extends string = string> {
  /** The domain's name: its folder under services/ and its slice of the GraphQL schema. */
  domain: string;
  /** The roles its policy grants (a token's `roles` claim); the gateway knows these and `admin`, nothing else. */
  roles: readonly R[];
  topics: Record<string, TopicSpec>;
  commands: C;
  events: E;
  /** Codes its errors carry to clients, besides the runtime's. */
  errorCodes: readonly string[];
  /** Its services' consumer groups and input topics (for readiness; the services themselves are elsewhere). */
  services: readonly { name: string; inputs: readonly string[] }[];
  /** Its projectors: consumer group, the service process that hosts it, topics, and the tables it writes (emptied for a rebuild). */
  projections: readonly { name: string; process: string; topics: readonly string[]; tables: readonly string[] }[];
}

export interface Contract<C extends Specs = Specs, E extends Specs = Specs, R extends string = string> extends ContractSpec<C, E, R> {
  /** Wraps a command in its envelope; throws INVALID_MESSAGE, or MESSAGE_TOO_LARGE when the broker would refuse it. */
  command<T extends WrittenUnion<C>>(command: T, meta?: { actor?: Actor; commandId?: string }): CommandEnvelope<T>;
  /** Wraps an event caused by `cause` (inheriting its actor); with a `producer`, its id is `decidedEventId`. */
  event<T extends WrittenUnion<E>>(event: T, cause: AnyEnvelope, now: Date, producer?: string, index?: number): EventEnvelope<T>;
  /**
   * Reads a message of this domain from the log (wire format; its schema id looked up beforehand, as the bus's
   * consumers do); throws INVALID_MESSAGE with the reason.
   */
  decode(buffer: Buffer | null): CommandEnvelope<Union<C>> | EventEnvelope<Union<E>>;
  validate(value: unknown): CommandEnvelope<Union<C>> | EventEnvelope<Union<E>>;
  /** Reads a message of one of its topics (envelope, or foreign format); undefined when it carries nothing. */
  read(topic: string, message: RawMessage): CommandEnvelope<Union<C>> | EventEnvelope<Union<E>> | undefined;
  /** The logical topic of a message of this domain. */
  topicOf(envelope: AnyEnvelope): string;
  outgoing(envelope: AnyEnvelope): Outgoing;
  /** What it declares of one of its services, by name (throws when it declares none). */
  service(name: string): ContractSpec<C, E, R>['services'][number];
  /** What it declares of one of its projections, by name (throws when it declares none). */
  projection(name: string): ContractSpec<C, E, R>['projections'][number];
}

/** The table of the runtime's event index, and the projector that keeps a domain's events in it. */
export const EVENT_INDEX_TABLE = 'event_index';
export const eventIndexProjector = (domain: string) => `${domain}-event-index`;

/** Any domain's contract (the runtime's view: it never looks at a domain's message types). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyContract = Contract<any, any, any>;
export type CommandOf<K extends AnyContract> = K extends Contract<infer C, infer _, infer _R> ? Union<C> : never;
export type EventOf<K extends AnyContract> = K extends Contract<infer _, infer E, infer _R> ? Union<E> : never;
/** What a consumer of this domain's topics reads. */
export type EnvelopeOf<K extends AnyContract> = CommandEnvelope<CommandOf<K>> | EventEnvelope<EventOf<K>>;

const envelopeFields = {
  schemaVersion: z.number().int().positive(),
  aggregateId: z.string().min(1),
  occurredAt: z.iso.datetime(),
  actor: actorSchema.optional(),
};

export function defineContract<C extends Specs, E extends Specs, const R extends string = never>(spec: ContractSpec<C, E, R>): Contract<C, E, R> {
  const renamed = { event: formerNames(spec.events), command: formerNames(spec.commands) };
  const names = (specs: Specs, former: Map<string, string>) => [...Object.keys(specs), ...former.keys()] as [string, ...string[]];
  const envelopeSchema = z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('event'),
      eventId: z.string().min(1),
      type: z.enum(names(spec.events, renamed.event)),
      correlationId: z.string().min(1),
      causationId: z.string().min(1),
      producer: z.string().min(1).optional(),
      data: z.unknown(),
      ...envelopeFields,
    }),
    z.object({
      kind: z.literal('command'),
      commandId: z.string().min(1),
      type: z.enum(names(spec.commands, renamed.command)),
      data: z.unknown(),
      ...envelopeFields,
    }),
  ]);
  const specOf = (envelope: { kind: 'event' | 'command'; type: string }): MessageSpec =>
    envelope.kind === 'event' ? spec.events[envelope.type] : spec.commands[envelope.type];

  function validate(value: unknown) {
    const envelope = envelopeSchema.safeParse(value);
    if (!envelope.success) throw invalid('envelope', envelope.error);
    const type = renamed[envelope.data.kind].get(envelope.data.type) ?? envelope.data.type;
    const message = specOf({ kind: envelope.data.kind, type });
    const data = message.schema.safeParse(upcast(type, message, envelope.data.schemaVersion, envelope.data.data));
    if (!data.success) throw invalid(type, data.error);
    return { ...envelope.data, type, schemaVersion: message.schemaVersion, data: data.data } as never;
  }

  // Refuses here what the broker would refuse, rather than failing a whole publish.
  function checked<T>(value: unknown): T {
    const envelope = validate(value) as AnyEnvelope;
    const bytes = WIRE_HEADER_BYTES + Buffer.byteLength(JSON.stringify(envelope));
    if (bytes > maxMessageBytes()) {
      throw new SystemError('MESSAGE_TOO_LARGE', `${envelope.type} would be ${bytes} bytes; Kafka takes at most ${maxMessageBytes()}`);
    }
    return envelope as T;
  }

  const topicOf = (envelope: AnyEnvelope) => specOf(envelope).topic;

  const decode = (buffer: Buffer | null) => validate(jsonOf(schemaIds(), buffer));

  // Every domain's events also go to the runtime's one event index (event-index.ts), by a projector of its own.
  const eventTopics = [...new Set([
    ...Object.values(spec.events).map((message) => message.topic),
    ...Object.entries(spec.topics).filter(([, topic]) => topic.external).map(([name]) => name),
  ])].filter((topic) => spec.topics[topic]?.history !== false);
  const host = spec.services[0]?.name; // a contract without services (a test's) runs nothing, so no projector either
  const projections = [
    ...spec.projections,
    ...(host ? [{ name: eventIndexProjector(spec.domain), process: host, topics: eventTopics, tables: [EVENT_INDEX_TABLE] }] : []),
  ];

  return {
    ...spec,
    projections,
    command(command, { actor, commandId = randomUUID() } = {}) {
      const message = spec.commands[command.type];
      return checked({
        kind: 'command',
        commandId,
        ...(actor && { actor }),
        type: command.type,
        schemaVersion: message.schemaVersion,
        aggregateId: message.key(command.data),
        occurredAt: new Date().toISOString(),
        data: command.data,
      });
    },
    event(event, cause, now, producer, index = 0) {
      const message = spec.events[event.type];
      const causeId = cause.kind === 'command' ? cause.commandId : cause.eventId;
      return checked({
        kind: 'event',
        eventId: producer ? decidedEventId(producer, causeId, index) : randomUUID(),
        type: event.type,
        schemaVersion: message.schemaVersion,
        aggregateId: message.key(event.data),
        occurredAt: now.toISOString(),
        correlationId: cause.kind === 'command' ? cause.commandId : cause.correlationId,
        causationId: causeId,
        ...(producer && { producer }),
        ...(cause.actor && { actor: cause.actor }),
        data: event.data,
      });
    },
    decode,
    validate,
    read(topic, message) {
      const external = spec.topics[topic]?.external;
      if (!external) return decode(message.value);
      const event = external(message);
      return event && validate(event);
    },
    topicOf,
    outgoing(envelope) {
      const partitionKey = specOf(envelope).partitionKey?.(envelope.data);
      return { topic: topicOf(envelope), envelope, ...(partitionKey !== undefined && { partitionKey }) };
    },
    service: (name) => declared(spec.services, name),
    projection: (name) => declared(projections, name),
  };
}

function declared<T extends { name: string }>(list: readonly T[], name: string): T {
  const found = list.find((item) => item.name === name);
  if (!found) throw new Error(`the contract declares no consumer named ${name}; declared: ${list.map((i) => i.name).join(', ')}`);
  return found;
}

/** Former name → current name, for the messages of `specs` that were renamed. */
function formerNames(specs: Specs): Map<string, string> {
  return new Map(Object.entries(specs).flatMap(([name, spec]) => (spec.formerly ?? []).map((former) => [former, name] as const)));
}

/** Data written at `version` as the contract's current version reads it, through the message's upcast steps. */
function upcast(type: string, message: MessageSpec, version: number, data: unknown): unknown {
  if (version > message.schemaVersion) {
    throw new SystemError('INVALID_MESSAGE', `${type} has schema version ${version}, written by a newer build: this one reads up to ${message.schemaVersion}`);
  }
  let current = data;
  for (let from = version; from < message.schemaVersion; from += 1) {
    const step = message.upcast?.[from];
    if (!step) throw new SystemError('INVALID_MESSAGE', `${type} has schema version ${version}, and the contract has no upcast from version ${from} to ${from + 1}`);
    current = step(current);
  }
  return current;
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
  /** What a rejection says besides its code, for the client (`extensions`), e.g. the state that refused it. */
  details: z.record(z.string(), z.unknown()).optional(),
  /** Where the command's events landed: a reader waits until the projections have applied them. */
  positions: z.array(z.object({ topic: z.string(), partition: z.number().int(), offset: z.string() })),
});
export type CommandReply = z.infer<typeof commandReplySchema>;

/** Reads a `command.replies` message (wire format, its schema id looked up beforehand). */
export const decodeReply = (value: Buffer | null): CommandReply => commandReplySchema.parse(jsonOf(schemaIds(), value));
