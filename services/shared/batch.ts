/**
 * Internal to the service runtime (service.ts): deciding one fetched batch against in-memory state, with
 * no I/O, so the rules that keep a service exactly-once in effect are unit-tested on their own.
 */
import { SystemError } from './errors.ts';
import type { AnyEnvelope, AnyContract, EventEnvelope, LogPosition } from './messages.ts';
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

export interface BatchDecision {
  /** Events to publish, in order. */
  outputs: EventEnvelope[];
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

export interface DecideOptions {
  now?: () => Date;
  /**
   * Whether the state of this key is kept here (default: every key is). A message whose state is kept elsewhere is
   * returned in `forwards`, undecided: deciding it here, against no state, would decide it wrong.
   */
  isLocal?(stateKey: string): boolean;
}

/**
 * Decides each message in turn, each against the state the previous one left. Throws (after rolling back)
 * on an error that is not a non-retriable SystemError: the batch is then retried as a whole. `topic` is the
 * batch's logical topic.
 */
export function decideBatch<S, K extends AnyContract>(
  definition: ServiceDefinition<S, K>,
  memory: ServiceMemory<S>,
  topic: string,
  messages: BatchMessage[],
  { now = () => new Date(), isLocal = () => true }: DecideOptions = {},
): BatchDecision {
  const stateTopics = new Set<string>(definition.stateTopics);
  const { contract } = definition;
  const outputs: EventEnvelope[] = [];
  const answers: Reply[] = [];
  const byCommand = new Map<string, Reply>(); // a command repeated in the batch is answered once per copy
  const decidedEvents = new Set<string>(); // an event repeated in the batch is decided once
  const deadLetters: BatchDecision['deadLetters'] = [];
  const forwards: BatchDecision['forwards'] = [];
  const previous = new Map<string, S | undefined>();
  const change = (event: EventEnvelope) => {
    const key = definition.stateKey(event as never);
    if (key !== undefined && !previous.has(key)) previous.set(key, memory.states.get(key));
    applyEvent(definition, memory.states, event);
  };
  const rollback = () => {
    for (const [key, state] of previous) {
      if (state === undefined) memory.states.delete(key);
      else memory.states.set(key, state);
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
      if (!isLocal(key)) {
        forwards.push({ stateKey: key, message, topic: origin });
        continue;
      }
      // An event whose consequences are already in the log (a redelivery, a repeated capture): decided once.
      if (input.kind === 'event') {
        if (memory.handled.has(input.eventId) || decidedEvents.has(input.eventId)) continue;
        decidedEvents.add(input.eventId);
      }
      if (input.kind === 'command') {
        // Redelivered (in this batch or before): answer as the first time, decide nothing.
        const earlier = byCommand.get(input.commandId);
        if (earlier || memory.handled.has(input.commandId)) {
          answers.push(earlier ?? { commandId: input.commandId, from: 0, to: 0, repeated: memory.handled.get(input.commandId) });
          continue;
        }
      }
      if (input.kind === 'event' && stateTopics.has(origin)) change(input);
      let events: EventEnvelope[];
      try {
        const decided = definition.decide(input as never, memory.states.get(key) ?? definition.initialState(), now());
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
        if (stateTopics.has(contract.topicOf(event))) change(event);
      }
      if (input.kind === 'command') answer({ commandId: input.commandId, from, to: outputs.length });
    }
  } catch (error) {
    rollback();
    throw error;
  }
  return { outputs, forwards, answers, deadLetters, rollback };
}
