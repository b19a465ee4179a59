/**
 * The runtime every service's command handler runs on. A service is a pure decider: `decide` turns an
 * input message (a command, or another service's event) and the current state into new events;
 * `evolve` folds events into state. The runtime restores state by replaying the service's own
 * topics, consumes inputs one at a time, publishes the decided events, and answers commands on
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

// Commands already handled, so a redelivered command is answered again instead of decided twice.
const REMEMBERED_COMMANDS = 100_000;

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
   * every reply in another: two round trips per batch instead of two per message. If publishing fails,
   * the state touched by the batch is rolled back and the batch is retried.
   */
  async function handleBatch(topic: string, partition: number, messages: KafkaMessage[]): Promise<void> {
    const outputs: EventEnvelope[] = [];
    const replies: { commandId: string; from: number; to: number; rejection?: SystemError; repeated?: LogPosition[] }[] = [];
    const previous = new Map<string, S | undefined>();
    const change = (event: EventEnvelope) => {
      const key = definition.stateKey(event);
      if (key !== undefined && !previous.has(key)) previous.set(key, states.get(key));
      apply(event);
    };

    for (const message of messages) {
      let input: Envelope;
      try {
        input = decode(message.value);
      } catch (error) {
        log.warn(`dead-lettering an invalid message from ${topic}/${partition}@${message.offset}: ${(error as Error).message}`);
        await bus.publishDeadLetter({ topic, partition, offset: message.offset, value: message.value }, (error as Error).message);
        continue;
      }
      const key = definition.stateKey(input);
      if (key === undefined) continue;
      if (input.kind === 'command') {
        // Redelivered (in this batch or before): answer as the first time, decide nothing.
        const commandId = input.commandId;
        const earlier = replies.find((r) => r.commandId === commandId);
        if (earlier || handled.has(commandId)) {
          replies.push(earlier ? { ...earlier } : { commandId, from: 0, to: 0, repeated: handled.get(commandId) });
          continue;
        }
      }
      if (input.kind === 'event' && stateTopics.has(topic)) change(input);
      let decided: DomainEvent[];
      try {
        decided = definition.decide(input, states.get(key) ?? definition.initialState(), new Date());
      } catch (error) {
        if (!(error instanceof SystemError) || error.retriable) throw rollback(error);
        if (input.kind === 'command') replies.push({ commandId: input.commandId, from: 0, to: 0, rejection: error });
        else await bus.publishDeadLetter({ topic, partition, offset: message.offset, value: message.value }, error.message);
        continue;
      }
      const from = outputs.length;
      for (const event of decided.map((e) => createEvent(e, input, new Date()))) {
        outputs.push(event);
        if (stateTopics.has(bus.topic(topicOf(event)))) change(event);
      }
      if (input.kind === 'command') replies.push({ commandId: input.commandId, from, to: outputs.length });
    }

    function rollback(error: unknown): unknown {
      for (const [key, state] of previous) {
        if (state === undefined) states.delete(key);
        else states.set(key, state);
      }
      return error;
    }

    let positions: LogPosition[];
    try {
      positions = await bus.publish(outputs);
    } catch (error) {
      throw rollback(error);
    }
    outputs.forEach((event, i) => remember(event.causationId, positions[i]));
    await bus.publishReplies(
      replies.map(({ commandId, from, to, rejection, repeated }) =>
        rejection
          ? { commandId, status: 'REJECTED' as const, code: rejection.code, message: rejection.message, positions: [] }
          : { commandId, status: 'ACCEPTED' as const, positions: repeated ?? positions.slice(from, to) },
      ),
    );
  }

  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat }) => {
      if (!batch.messages.length) return;
      try {
        await handleBatch(batch.topic, batch.partition, batch.messages);
      } catch (error) {
        log.error(`failed on ${batch.topic}/${batch.partition}@${batch.firstOffset()}, will retry: ${(error as Error).message}`);
        throw error;
      }
      resolveOffset(batch.lastOffset());
      await commitOffsetsIfNecessary();
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
            if (!remaining.size) resolve();
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

