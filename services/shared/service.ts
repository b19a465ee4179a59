/**
 * The runtime every service's command handler runs on. A service is a pure decider: `decide` turns an
 * input message (a command, or another service's event) and the current state into new events;
 * `evolve` folds events into state. The runtime restores state by replaying the service's own
 * topics, decides inputs one after another (a fetched batch at a time), publishes the decided events, and
 * answers commands on `command.replies`. Kafka and Prisma never reach the domain code.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { applyEvent, decideBatch, type ServiceMemory } from './batch.ts';
import { isFor, isKafkaReachable, type Bus } from './bus.ts';
import { runConsumer } from './consumer.ts';
import { applyIsolating, reasonOf } from './isolation.ts';
import type { Logger } from './log.ts';
import type { AnyContract, EnvelopeOf, EventEnvelope, EventOf, LogPosition } from './messages.ts';

/** A service of a domain, typed by that domain's contract: its messages and nothing else. */
export interface ServiceDefinition<S, K extends AnyContract = AnyContract> {
  /** Names its consumer group and the `producer` of its events. */
  name: string;
  contract: K;
  /** Topics whose messages are handed to `decide`. */
  inputs: readonly string[];
  /** Topics whose events make up the state; replayed from the beginning at start-up. */
  stateTopics: readonly string[];
  /** Which aggregate's state a message reads or changes; `undefined` means the service ignores it. */
  stateKey(message: EnvelopeOf<K>): string | undefined;
  initialState(): S;
  /** Must tolerate seeing an event twice when it is both an input and a state topic. */
  evolve(state: S, event: EventEnvelope<EventOf<K>>): S;
  /** Throws a non-retriable SystemError to reject a command. */
  decide(input: EnvelopeOf<K>, state: S, now: Date): EventOf<K>[];
}

export interface RunningService {
  stop(): Promise<void>;
}

// Messages already handled (by id, with where their events landed), so a redelivered command is answered
// again instead of decided twice.
const REMEMBERED_COMMANDS = 100_000;
// A replay still unfinished after this long has hung (e.g. the broker is gone): fail the start instead.
const RESTORE_TIMEOUT_MS = 5 * 60_000;
const PROGRESS_EVERY_MS = 5_000;

export async function startService<S, K extends AnyContract>(
  definition: ServiceDefinition<S, K>,
  bus: Bus,
  log: Logger,
): Promise<RunningService> {
  const memory: ServiceMemory<S> = { states: new Map(), handled: new Map() };
  const { states, handled } = memory;
  const remember = (causationId: string, position: LogPosition) => {
    handled.set(causationId, [...(handled.get(causationId) ?? []), position]);
    if (handled.size > REMEMBERED_COMMANDS) handled.delete(handled.keys().next().value!);
  };

  const restored = await replay(bus, definition, (event, position) => {
    applyEvent(definition, states, event);
    // What this service decided before: its input is handled. Other services' events on a state topic name
    // their own causes, which this service may not have seen yet; a foreign topic's (e.g. Debezium's) name no
    // cause of ours at all, and still have to be decided when they arrive as input.
    const foreign = definition.contract.topics[bus.logicalTopic(position.topic)]?.external !== undefined;
    if (!foreign && (event.producer === undefined || event.producer === definition.name)) remember(event.causationId, position);
  }, log);
  log.info(`restored state from ${restored} events`, { aggregates: states.size });

  /**
   * Decides a whole fetched batch against in-memory state (batch.ts), then publishes every event in one
   * request and every reply in another: two round trips per batch instead of two per message. If the
   * events cannot be written, the state the batch changed is rolled back and the batch is retried.
   */
  async function handleBatch(topic: string, partition: number, messages: KafkaMessage[]): Promise<void> {
    const { outputs, answers, deadLetters, rollback } = decideBatch(definition, memory, bus.logicalTopic(topic), messages);
    let positions: LogPosition[];
    try {
      positions = await bus.publish(outputs.map(definition.contract.outgoing));
    } catch (error) {
      rollback();
      throw error;
    }
    outputs.forEach((event, i) => remember(event.causationId, positions[i]));
    // After the events: a failure from here on retries the batch, and the redelivered commands are answered from `handled`.
    for (const { offset, value, reason } of deadLetters) {
      log.warn(`dead-lettering a message from ${topic}/${partition}@${offset}: ${reason}`);
      await bus.publishDeadLetter({ topic, partition, offset, value, consumer: definition.name }, reason);
    }
    await bus.publishReplies(
      answers.map(({ commandId, from, to, rejection, repeated }) =>
        rejection
          ? {
              commandId, status: 'REJECTED' as const, code: rejection.code, message: rejection.message, positions: [],
              ...(Object.keys(rejection.details).length && { details: rejection.details }),
            }
          : { commandId, status: 'ACCEPTED' as const, positions: repeated ?? positions.slice(from, to) },
      ),
    );
  }

  /** A message that cannot be handled: recorded on `dead.letters`, and its command (if it is one) refused. */
  async function setAside(topic: string, partition: number, message: KafkaMessage, reason: string): Promise<void> {
    log.error(`dead-lettering ${topic}/${partition}@${message.offset} after repeated failures: ${reason}`);
    await bus.publishDeadLetter({ topic, partition, offset: message.offset, value: message.value, consumer: definition.name }, reason);
    const commandId = commandIdOf(definition.contract, message);
    if (commandId) {
      await bus.publishReplies([{
        commandId, status: 'REJECTED', code: 'INTERNAL_SERVER_ERROR', positions: [],
        message: `the ${definition.name} service could not handle this command; it is on dead.letters for an operator`,
      }]);
    }
  }

  const consumer = await runConsumer(bus, {
    group: definition.name,
    topics: definition.inputs,
    fromBeginning: true,
    run: () => ({
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition } = batch;
        const messages = batch.messages.filter((message) => isFor(definition.name, message));
        if (messages.length) {
          await applyIsolating(messages, {
            apply: (some) => handleBatch(topic, partition, some),
            setAside: (message, reason) => setAside(topic, partition, message, reason),
            infrastructureAnswers: () => isKafkaReachable(bus.kafka),
            pause: async (ms, attempt, error) => {
              log.warn(`failed on ${topic}/${partition}@${messages[0].offset} (attempt ${attempt}), retrying in ${ms} ms: ${reasonOf(error)}`);
              if (!isRunning() || isStale()) throw error;
              await new Promise((r) => setTimeout(r, ms));
              await heartbeat();
            },
          });
        }
        resolveOffset(batch.lastOffset()); // committed by kafkajs after the batch
        await heartbeat();
      },
    }),
  }, log);
  log.info(`consuming ${definition.inputs.join(', ')}`);
  return {
    async stop() {
      await consumer.stop();
    },
  };
}

function commandIdOf(contract: AnyContract, message: KafkaMessage): string | undefined {
  try {
    const envelope = contract.decode(message.value);
    return envelope.kind === 'command' ? envelope.commandId : undefined;
  } catch {
    return undefined;
  }
}

/** Replays the state topics from the beginning up to their current end; returns how many events it applied. */
async function replay<S, K extends AnyContract>(
  bus: Bus,
  definition: ServiceDefinition<S, K>,
  apply: (event: EventEnvelope, position: LogPosition) => void,
  log: Logger,
): Promise<number> {
  if (!definition.stateTopics.length) return 0;
  const remaining = new Map<string, bigint>(); // topic:partition -> last offset still to read
  for (const logical of definition.stateTopics) {
    const topic = bus.topic(logical);
    for (const { partition, high, low } of await bus.topicOffsets(topic)) {
      if (BigInt(high) > BigInt(low)) remaining.set(`${topic}:${partition}`, BigInt(high) - 1n);
    }
  }
  if (!remaining.size) return 0;
  const group = `${definition.name}.restore.${randomUUID()}`;
  const consumer: Consumer = bus.createConsumer(group);
  let applied = 0;
  try {
    await consumer.connect();
    for (const logical of definition.stateTopics) {
      await consumer.subscribe({ topic: bus.topic(logical), fromBeginning: true });
    }
    await new Promise<void>((resolve, reject) => {
      // A long log takes a while: say how far the restore has got.
      const progress = setInterval(() => log.info(`restoring state: ${applied} events so far`), PROGRESS_EVERY_MS);
      const timer = setTimeout(
        () => fail(new Error(`restoring state from ${definition.stateTopics.join(', ')} did not finish within ${RESTORE_TIMEOUT_MS} ms`)),
        RESTORE_TIMEOUT_MS,
      );
      const settle = () => {
        clearTimeout(timer);
        clearInterval(progress);
      };
      const done = () => {
        settle();
        resolve();
      };
      const fail = (error: unknown) => {
        settle();
        reject(error);
      };
      consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              if (!isFor(definition.name, message)) continue; // a replay meant for another consumer
              try {
                const envelope = definition.contract.read(bus.logicalTopic(batch.topic), message);
                if (!envelope) continue;
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
        .catch(fail);
    });
  } finally {
    await consumer.disconnect();
    await bus.deleteGroup(group);
  }
  return applied;
}

