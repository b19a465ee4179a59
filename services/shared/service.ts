/**
 * The runtime every service's command handler runs on. A service is a pure decider: `decide` turns an
 * input message (a command, or another service's event) and the current state into new events;
 * `evolve` folds events into state. The runtime restores state by replaying the service's own
 * topics, decides inputs one after another (a fetched batch at a time), publishes the decided events, and answers commands on
 * `command.replies`. Kafka and Prisma never reach the domain code.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { joined, withKafkaRetries, type Bus } from './bus.ts';
import { SystemError } from './errors.ts';
import type { Logger } from './log.ts';
import {
  createEvent, decode, topicOf,
  type DomainEvent, type Envelope, type EventEnvelope, type LogPosition, type TopicName,
} from './messages.ts';

export interface ServiceDefinition<S> {
  name: string;
  /** Topics whose messages are handed to `decide`. */
  inputs: TopicName[];
  /** Topics whose events make up the state; replayed from the beginning at start-up. */
  stateTopics: TopicName[];
  /** Which aggregate's state a message reads or changes; `undefined` means the service ignores it. */
  stateKey(message: Envelope): string | undefined;
  initialState(): S;
  /** Must tolerate seeing an event twice when it is both an input and a state topic. */
  evolve(state: S, event: EventEnvelope): S;
  /** Throws a non-retriable SystemError to reject a command. */
  decide(input: Envelope, state: S, now: Date): DomainEvent[];
}

export interface RunningService {
  stop(): Promise<void>;
}

// Messages already handled (by id, with where their events landed), so a redelivered command is answered
// again instead of decided twice.
const REMEMBERED_COMMANDS = 100_000;
// A replay still unfinished after this long has hung (e.g. the broker is gone): fail the start instead.
const RESTORE_TIMEOUT_MS = 5 * 60_000;

interface Reply {
  commandId: string;
  /** The command's events: outputs[from, to). */
  from: number;
  to: number;
  rejection?: SystemError;
  /** Positions remembered from an earlier delivery. */
  repeated?: LogPosition[];
}

export async function startService<S>(
  definition: ServiceDefinition<S>,
  bus: Bus,
  log: Logger,
): Promise<RunningService> {
  const states = new Map<string, S>();
  const handled = new Map<string, LogPosition[]>();
  const stateTopics = new Set<string>(definition.stateTopics.map(bus.topic));

  const apply = (event: EventEnvelope) => {
    const key = definition.stateKey(event);
    if (key !== undefined) states.set(key, definition.evolve(states.get(key) ?? definition.initialState(), event));
  };
  const remember = (causationId: string, position: LogPosition) => {
    handled.set(causationId, [...(handled.get(causationId) ?? []), position]);
    if (handled.size > REMEMBERED_COMMANDS) handled.delete(handled.keys().next().value!);
  };

  const restored = await replay(bus, definition, (event, position) => {
    apply(event);
    remember(event.causationId, position);
  }, log);
  log.info(`restored state from ${restored} events`, { aggregates: states.size });

  const consumer = bus.createConsumer(definition.name);
  await consumer.connect();
  for (const input of definition.inputs) await consumer.subscribe({ topic: bus.topic(input), fromBeginning: true });
  const ready = joined(consumer);

  /**
   * Decides a whole fetched batch against in-memory state, then publishes every event in one request and
   * every reply in another: two round trips per batch instead of two per message. If anything fails before
   * the events are written, the state the batch touched is rolled back and the batch is retried.
   */
  async function handleBatch(topic: string, partition: number, messages: KafkaMessage[]): Promise<void> {
    const outputs: EventEnvelope[] = [];
    const replies = new Map<string, Reply>(); // by command id: a command repeated in the batch is answered once per copy
    const answers: Reply[] = [];
    const deadLetters: { message: KafkaMessage; reason: string }[] = [];
    const previous = new Map<string, S | undefined>();
    const change = (event: EventEnvelope) => {
      const key = definition.stateKey(event);
      if (key !== undefined && !previous.has(key)) previous.set(key, states.get(key));
      apply(event);
    };
    const rollback = (error: unknown): unknown => {
      for (const [key, state] of previous) {
        if (state === undefined) states.delete(key);
        else states.set(key, state);
      }
      return error;
    };

    let positions: LogPosition[];
    try {
      for (const message of messages) {
        let input: Envelope;
        try {
          input = decode(message.value);
        } catch (error) {
          deadLetters.push({ message, reason: (error as Error).message });
          continue;
        }
        const key = definition.stateKey(input);
        if (key === undefined) continue;
        if (input.kind === 'command') {
          // Redelivered (in this batch or before): answer as the first time, decide nothing.
          const earlier = replies.get(input.commandId);
          if (earlier || handled.has(input.commandId)) {
            answers.push(earlier ?? { commandId: input.commandId, from: 0, to: 0, repeated: handled.get(input.commandId) });
            continue;
          }
        }
        if (input.kind === 'event' && stateTopics.has(topic)) change(input);
        let events: EventEnvelope[];
        try {
          const decided = definition.decide(input, states.get(key) ?? definition.initialState(), new Date());
          events = decided.map((e) => createEvent(e, input, new Date())); // validates each event: a bad one is refused here
        } catch (error) {
          if (!(error instanceof SystemError) || error.retriable) throw error;
          if (input.kind === 'command') {
            const reply = { commandId: input.commandId, from: 0, to: 0, rejection: error };
            replies.set(input.commandId, reply);
            answers.push(reply);
          } else {
            deadLetters.push({ message, reason: error.message });
          }
          continue;
        }
        const from = outputs.length;
        for (const event of events) {
          outputs.push(event);
          if (stateTopics.has(bus.topic(topicOf(event)))) change(event);
        }
        if (input.kind === 'command') {
          const reply = { commandId: input.commandId, from, to: outputs.length };
          replies.set(input.commandId, reply);
          answers.push(reply);
        }
      }
      positions = await bus.publish(outputs);
    } catch (error) {
      throw rollback(error);
    }
    outputs.forEach((event, i) => remember(event.causationId, positions[i]));
    // After the events: a failure from here on retries the batch, and the redelivered commands are answered from `handled`.
    for (const { message, reason } of deadLetters) {
      log.warn(`dead-lettering a message from ${topic}/${partition}@${message.offset}: ${reason}`);
      await bus.publishDeadLetter({ topic, partition, offset: message.offset, value: message.value, consumer: definition.name }, reason);
    }
    await bus.publishReplies(
      answers.map(({ commandId, from, to, rejection, repeated }) =>
        rejection
          ? { commandId, status: 'REJECTED' as const, code: rejection.code, message: rejection.message, positions: [] }
          : { commandId, status: 'ACCEPTED' as const, positions: repeated ?? positions.slice(from, to) },
      ),
    );
  }

  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (!batch.messages.length) return;
      try {
        await handleBatch(batch.topic, batch.partition, batch.messages);
      } catch (error) {
        log.error(`failed on ${batch.topic}/${batch.partition}@${batch.firstOffset()}, will retry: ${(error as Error).message}`);
        throw error;
      }
      resolveOffset(batch.lastOffset()); // committed by kafkajs after the batch
      await heartbeat();
    },
  });
  await ready;
  log.info(`consuming ${definition.inputs.join(', ')}`);
  return {
    async stop() {
      await consumer.disconnect();
    },
  };
}

/** Replays the state topics from the beginning up to their current end; returns how many events it applied. */
async function replay<S>(
  bus: Bus,
  definition: ServiceDefinition<S>,
  apply: (event: EventEnvelope, position: LogPosition) => void,
  log: Logger,
): Promise<number> {
  if (!definition.stateTopics.length) return 0;
  const admin = bus.kafka.admin();
  await admin.connect();
  const remaining = new Map<string, bigint>(); // topic:partition -> last offset still to read
  for (const logical of definition.stateTopics) {
    const topic = bus.topic(logical);
    for (const { partition, high, low } of await withKafkaRetries(() => admin.fetchTopicOffsets(topic))) {
      if (BigInt(high) > BigInt(low)) remaining.set(`${topic}:${partition}`, BigInt(high) - 1n);
    }
  }
  if (!remaining.size) {
    await admin.disconnect();
    return 0;
  }
  const group = `${definition.name}.restore.${randomUUID()}`;
  const consumer: Consumer = bus.createConsumer(group);
  let applied = 0;
  try {
    await consumer.connect();
    for (const logical of definition.stateTopics) {
      await consumer.subscribe({ topic: bus.topic(logical), fromBeginning: true });
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`restoring state from ${definition.stateTopics.join(', ')} did not finish within ${RESTORE_TIMEOUT_MS} ms`)),
        RESTORE_TIMEOUT_MS,
      );
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        clearTimeout(timer);
        reject(payload.error);
      });
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              try {
                const envelope = decode(message.value);
                if (envelope.kind === 'event') {
                  apply(envelope, { topic: batch.topic, partition: batch.partition, offset: message.offset });
                  applied += 1;
                }
              } catch (error) {
                log.warn(`skipping an invalid event while restoring: ${(error as Error).message}`);
              }
            }
            const slot = `${batch.topic}:${batch.partition}`;
            const last = remaining.get(slot);
            if (last !== undefined && BigInt(batch.lastOffset()) >= last) remaining.delete(slot);
            if (!remaining.size) done();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([bus.prefix + group]).catch(() => {});
    await admin.disconnect();
  }
  return applied;
}

