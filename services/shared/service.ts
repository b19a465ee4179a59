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

  const apply = (event: EventEnvelope, position?: LogPosition) => {
    const key = definition.stateKey(event);
    if (key !== undefined) states.set(key, definition.evolve(states.get(key) ?? definition.initialState(), event));
    if (position) remember(event.causationId, position);
  };
  const remember = (causationId: string, position: LogPosition) => {
    handled.set(causationId, [...(handled.get(causationId) ?? []), position]);
    if (handled.size > REMEMBERED_COMMANDS) handled.delete(handled.keys().next().value!);
  };

  const restored = await replay(bus, definition, apply, log);
  log.info(`restored state from ${restored} events`, { aggregates: states.size });

  const consumer = bus.createConsumer(definition.name);
  await consumer.connect();
  for (const input of definition.inputs) await consumer.subscribe({ topic: bus.topic(input), fromBeginning: true });
  const ready = joined(consumer);

  async function handle(topic: string, partition: number, message: KafkaMessage): Promise<void> {
    let input: Envelope;
    try {
      input = decode(message.value);
    } catch (error) {
      log.warn(`dead-lettering an invalid message from ${topic}/${partition}@${message.offset}: ${(error as Error).message}`);
      await bus.publishDeadLetter({ topic, partition, offset: message.offset, value: message.value }, (error as Error).message);
      return;
    }
    const key = definition.stateKey(input);
    if (key === undefined) return;
    if (input.kind === 'command' && handled.has(input.commandId)) {
      await bus.publishReply({ commandId: input.commandId, status: 'ACCEPTED', positions: handled.get(input.commandId)! });
      return;
    }
    if (input.kind === 'event' && stateTopics.has(topic)) apply(input);
    let decided: DomainEvent[];
    try {
      decided = definition.decide(input, states.get(key) ?? definition.initialState(), new Date());
    } catch (error) {
      if (!(error instanceof SystemError) || error.retriable) throw error;
      if (input.kind === 'command') {
        await bus.publishReply({ commandId: input.commandId, status: 'REJECTED', code: error.code, message: error.message, positions: [] });
      } else {
        await bus.publishDeadLetter({ topic, partition, offset: message.offset, value: message.value }, error.message);
      }
      return;
    }
    const events = decided.map((event) => createEvent(event, input, new Date()));
    const positions = await bus.publish(events);
    events.forEach((event, i) => {
      if (stateTopics.has(bus.topic(topicOf(event)))) apply(event, positions[i]);
    });
    if (input.kind === 'command') {
      await bus.publishReply({ commandId: input.commandId, status: 'ACCEPTED', positions });
    }
  }

  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      try {
        await handle(topic, partition, message);
      } catch (error) {
        log.error(`failed on ${topic}/${partition}@${message.offset}, will retry: ${(error as Error).message}`);
        throw error;
      }
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

