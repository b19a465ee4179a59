/** Deciding one fetched batch against in-memory state, with no I/O, so the exactly-once rules are unit-tested. */
import type { Forwarded } from './bus.ts';
import { SystemError } from './errors.ts';
import { ORIGIN_TOPIC_HEADER, repartitionTopic, type AnyEnvelope, type AnyContract, type CommandReply, type EventEnvelope, type LogPosition } from './messages.ts';
import type { ServiceDefinition } from './service.ts';

/** What a service holds between batches: state per aggregate, and where handled messages' events landed. */
export interface ServiceMemory<S> {
  states: Map<string, S>;
  /** By message id (a command's or an input event's id): the positions of the events it caused. */
  handled: Map<string, LogPosition[]>;
}

export interface Reply {
  commandId: string;
  /** The command's events: outputs[from, to). */
  from: number;
  to: number;
  rejection?: SystemError;
  /** Positions remembered from an earlier delivery. */
  repeated?: LogPosition[];
}

/** A fetched message; `topic` when it was first written elsewhere (forwarded to a repartition topic). */
export interface BatchMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp?: string;
  headers?: Record<string, unknown>;
  /** The logical topic it was first written to, when it differs from the batch's. */
  topic?: string;
}

export interface BatchDecision<S = unknown> {
  /** Events to publish, in order. */
  outputs: EventEnvelope[];
  /** For each output, the memory its input was decided against: where the input is remembered as handled. */
  decidedIn: ServiceMemory<S>[];
  /** Messages whose state lives on another partition, with their state key: to forward, not to decide here. */
  forwards: { stateKey: string; message: BatchMessage; topic: string }[];
  /** One answer per command message in the batch, repeats included. */
  answers: Reply[];
  deadLetters: { offset: string; value: Buffer | null; reason: string }[];
  /** Puts back the state the batch changed; for when its events could not be published. */
  rollback(): void;
}

export function applyEvent<S, K extends AnyContract>(definition: ServiceDefinition<S, K>, states: Map<string, S>, event: EventEnvelope): void {
  const key = definition.stateKey(event as never);
  if (key !== undefined) states.set(key, definition.evolve(states.get(key) ?? definition.initialState(), event as never));
}

export interface DecideOptions<S> {
  now?: () => Date;
  /** The memory holding this key's state, or undefined: decided elsewhere, so returned in `forwards`, undecided. */
  memoryOf?(stateKey: string): ServiceMemory<S> | undefined;
}

/** Decides each message in turn. Any error but a non-retriable SystemError rolls back and throws: the batch is retried. */
export function decideBatch<S, K extends AnyContract>(
  definition: ServiceDefinition<S, K>,
  memory: ServiceMemory<S>,
  topic: string,
  messages: BatchMessage[],
  { now = () => new Date(), memoryOf = () => memory }: DecideOptions<S> = {},
): BatchDecision<S> {
  const stateTopics = new Set<string>(definition.stateTopics);
  const { contract } = definition;
  const outputs: EventEnvelope[] = [];
  const decidedIn: ServiceMemory<S>[] = [];
  const answers: Reply[] = [];
  const byCommand = new Map<string, Reply>(); // a command repeated in the batch is answered once per copy
  const decidedEvents = new Set<string>(); // an event repeated in the batch is decided once
  const deadLetters: BatchDecision['deadLetters'] = [];
  const forwards: BatchDecision['forwards'] = [];
  // A key's state before the batch, and the memory it is in (one per key: a key belongs to one partition).
  const previous = new Map<string, { states: Map<string, S>; state: S | undefined }>();
  const change = (into: ServiceMemory<S>, event: EventEnvelope) => {
    const key = definition.stateKey(event as never);
    if (key !== undefined && !previous.has(key)) previous.set(key, { states: into.states, state: into.states.get(key) });
    applyEvent(definition, into.states, event);
  };
  const rollback = () => {
    for (const [key, { states, state }] of previous) {
      if (state === undefined) states.delete(key);
      else states.set(key, state);
    }
  };
  const answer = (reply: Reply) => {
    byCommand.set(reply.commandId, reply);
    answers.push(reply);
  };

  try {
    for (const message of messages) {
      const origin = message.topic ?? topic;
      let input: AnyEnvelope | undefined;
      try {
        input = contract.read(origin, message);
      } catch (error) {
        deadLetters.push({ offset: message.offset, value: message.value, reason: (error as Error).message });
        continue;
      }
      if (!input) continue;
      const key = definition.stateKey(input as never);
      if (key === undefined) continue;
      const home = memoryOf(key);
      if (!home) {
        forwards.push({ stateKey: key, message, topic: origin });
        continue;
      }
      // An event whose consequences are already in the log (a redelivery, a repeated capture): decided once.
      if (input.kind === 'event') {
        if (home.handled.has(input.eventId) || decidedEvents.has(input.eventId)) continue;
        decidedEvents.add(input.eventId);
      }
      if (input.kind === 'command') {
        // Redelivered (in this batch or before): answer as the first time, decide nothing.
        const earlier = byCommand.get(input.commandId);
        if (earlier || home.handled.has(input.commandId)) {
          answers.push(earlier ?? { commandId: input.commandId, from: 0, to: 0, repeated: home.handled.get(input.commandId) });
          continue;
        }
      }
      if (input.kind === 'event' && stateTopics.has(origin)) change(home, input);
      let events: EventEnvelope[];
      try {
        const decided = definition.decide(input as never, home.states.get(key) ?? definition.initialState(), now());
        // Validates each event (a bad one is refused here); ids from the input and the index, the same if decided again.
        events = decided.map((e, index) => contract.event(e, input, now(), definition.name, index));
      } catch (error) {
        if (!(error instanceof SystemError) || error.retriable) throw error;
        if (input.kind === 'command') answer({ commandId: input.commandId, from: 0, to: 0, rejection: error });
        else deadLetters.push({ offset: message.offset, value: message.value, reason: error.message });
        continue;
      }
      const from = outputs.length;
      for (const event of events) {
        outputs.push(event);
        decidedIn.push(home);
        if (stateTopics.has(contract.topicOf(event))) change(home, event);
      }
      if (input.kind === 'command') answer({ commandId: input.commandId, from, to: outputs.length });
    }
  } catch (error) {
    rollback();
    throw error;
  }
  return { outputs, decidedIn, forwards, answers, deadLetters, rollback };
}

/**
 * What a decision writes in the task's transaction: events, forwards, then replies and dead letters (also each
 * forward over `maxBytes`: a key as large as the message can outgrow what Kafka takes).
 */
export function writeOf<S>(definition: ServiceDefinition<S, AnyContract>, decision: BatchDecision<S>, topic: string, partition: number, maxBytes: number) {
  const deadLetters = [...decision.deadLetters];
  const forwarded = decision.forwards.flatMap(({ stateKey, message: { offset, value, headers, timestamp }, topic: origin }): Forwarded[] => {
    const bytes = Buffer.byteLength(stateKey) + (value?.length ?? 0);
    if (bytes <= maxBytes) return [{ topic: repartitionTopic(definition.name), key: stateKey, value, headers: { ...(headers as Forwarded['headers']), [ORIGIN_TOPIC_HEADER]: origin }, timestamp }];
    deadLetters.push({ offset, value, reason: `MESSAGE_TOO_LARGE: forwarding it keyed by its state key would be ${bytes} bytes; Kafka takes at most ${maxBytes}` });
    return [];
  });
  return {
    messages: [...decision.outputs.map(definition.contract.outgoing), ...forwarded],
    deadLetters,
    after: (written: LogPosition[]) => ({
      replies: decision.answers.map(({ commandId, from, to, rejection, repeated }): CommandReply => (rejection
        ? { commandId, status: 'REJECTED', code: rejection.code, message: rejection.message, positions: [], ...(Object.keys(rejection.details).length && { details: rejection.details }) }
        : { commandId, status: 'ACCEPTED', positions: repeated ?? written.slice(from, to) })),
      deadLetters: deadLetters.map(({ offset, value, reason }) => ({ source: { topic, partition, offset, value, consumer: definition.name }, reason })),
    }),
  };
}
