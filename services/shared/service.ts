/**
 * The runtime every service's command handler runs on. A service is a pure decider (`decide`, `evolve`); the
 * runtime feeds it inputs a batch at a time, publishes its events and answers commands. Kafka and Prisma never
 * reach the domain code.
 *
 * One reader (consumer group) per process, as one Kafka Streams thread serves all its tasks; a 'single' service
 * has its own. handover.ts moves a service's positions over from the groups that decided it before.
 *
 * Instances share partitions (assignment.ts): an instance holds the state of partition numbers it is assigned,
 * restored from partition p of the state topics. An input keyed to another partition is forwarded to the service's
 * repartition topic, so partition p of every topic holds the same aggregates (equal partition counts).
 *
 * Exactly once, as Kafka Streams before exactly_once_v2: task p writes everything it decides plus the consumed
 * offsets in one transaction through its own producer (`<group>.task-<p>`). Gaining p connects that producer before
 * restoring, fencing a zombie owner. A task's transaction holds only its own partition's state, so an input of
 * another partition always hops through the repartition topic. After a commit whose answer was lost, the state is
 * restored from the log and an input whose events landed is found handled by its id.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { partitionNumberAssigner } from './assignment.ts';
import { applyEvent, decideBatch, writeOf, type BatchMessage, type ServiceMemory } from './batch.ts';
import { isFenced, isFor, isKafkaReachable, LEAVE_GROUP_TIMEOUT_MS, partitionOfKey, type Bus, type TaskProducer } from './bus.ts';
import { maxMessageBytes } from './config.ts';
import { withinTime } from './errors.ts';
import { runConsumer } from './consumer.ts';
import { takeOverPositions } from './handover.ts';
import { applyIsolating, reasonOf } from './isolation.ts';
import type { ConsumerHealth } from './liveness.ts';
import { createLogger, waitingOn, type Logger } from './log.ts';
import { ORIGIN_TOPIC_HEADER, repartitionTopic, type AnyContract, type EnvelopeOf, type EventEnvelope, type EventOf, type LogPosition } from './messages.ts';
import { homeOf, nextOffsetAfter, notCommitted, ReaderTasks } from './partition-task.ts';
import { commitMerged, type TaskWrite } from './task-commits.ts';

/** A service of a domain, typed by that domain's contract: its messages and nothing else. */
export interface ServiceDefinition<S, K extends AnyContract = AnyContract> {
  /** Names its repartition topic (`<name>.repartition`), the `producer` of its events, and its part of its reader's group. */
  name: string;
  contract: K;
  /** Topics whose messages are handed to `decide`. */
  inputs: readonly string[];
  /** Topics whose events make up the state; a partition's are replayed when an instance gains the partition. */
  stateTopics: readonly string[];
  /**
   * State topics not keyed by their state key (e.g. verdicts keyed by order, folded per customer): restoring reads
   * them whole. A foreign topic (e.g. Debezium's) always counts as one.
   */
  scatteredStateTopics?: readonly string[];
  /** 'partitioned' (default): each instance decides its partitions. 'single': one aggregate, one active instance, standbys. */
  instances?: 'partitioned' | 'single';
  /** Which aggregate's state a message reads or changes; `undefined` means the service ignores it. */
  stateKey(message: EnvelopeOf<K>): string | undefined;
  initialState(): S;
  /** Must tolerate seeing an event twice when it is both an input and a state topic. */
  evolve(state: S, event: EventEnvelope<EventOf<K>>): S;
  /** Throws a non-retriable SystemError to reject a command. */
  decide(input: EnvelopeOf<K>, state: S, now: Date): EventOf<K>[];
}

export interface RunningService {
  /** The reader's consumer group, without the prefix. */
  group: string;
  stop(): Promise<void>;
  /** How its consumer fares, for the process's heartbeat (liveness.ts). */
  health(): ConsumerHealth;
}

// Handled message ids per partition, so a redelivered command is answered again instead of decided twice.
const REMEMBERED_COMMANDS = 100_000;
// A replay still unfinished after this long has hung (e.g. the broker is gone): fail the batch instead.
const RESTORE_TIMEOUT_MS = 5 * 60_000;
const PROGRESS_EVERY_MS = 5_000;
// Connecting the restore consumer takes this long at most before the batch is failed and retried.
const JOIN_TIMEOUT_MS = 30_000;
// A restore runs inside the batch that needs it: the group must keep hearing from this member meanwhile.
const HEARTBEAT_EVERY_MS = 1_000;
/** Inputs one batch hands to a transaction at most: a fetched backlog is decided in several. */
const MAX_INPUTS_PER_TRANSACTION = 500;
/** Fetched batches (one per topic partition) decided at the same time: a task's batches then share its next transaction. */
const BATCHES_AT_ONCE = 32;

/** One service of a reader. */
interface Part {
  definition: ServiceDefinition<unknown, AnyContract>;
  log: Logger;
  /** The state partition of a key: its partition in every topic keyed by it. One, for a single aggregate. */
  slotOfKey(key: string): number;
  repartition: string;
}

/** A record handed to one service of the reader. */
interface Input { part: Part; message: BatchMessage }

/** A reader's consumer group: the same whatever order a process names its services in. */
export function readerGroup(services: readonly string[]): string {
  return [...services].sort().join('+');
}

/** Runs one service as a reader of its own. */
export function startService<S, K extends AnyContract>(definition: ServiceDefinition<S, K>, bus: Bus, log: Logger): Promise<RunningService> {
  return startServices([definition as ServiceDefinition<unknown, AnyContract>], bus, () => log);
}

/** Runs the command handlers of `definitions` as one reader (one consumer group). */
export async function startServices(
  definitions: readonly ServiceDefinition<unknown, AnyContract>[],
  bus: Bus,
  logOf: (service: string) => Logger = createLogger,
): Promise<RunningService> {
  if (!definitions.length) throw new Error('startServices needs at least one service');
  const single = definitions.some((d) => d.instances === 'single');
  if (single && definitions.length > 1) {
    throw new Error(`${definitions.map((d) => d.name).join(', ')}: a service with one aggregate (instances: 'single') needs a reader of its own`);
  }
  const group = readerGroup(definitions.map((d) => d.name));
  const log = definitions.length === 1 ? logOf(group) : createLogger(group);
  const parts: Part[] = [];
  for (const definition of definitions) {
    const partitions = await checkPartitionCounts(bus, definition);
    parts.push({
      definition, log: logOf(definition.name), repartition: bus.topic(repartitionTopic(definition.name)),
      slotOfKey: (key) => (single ? 0 : partitionOfKey(key, partitions)),
    });
  }
  const slotOfPartition = (partition: number) => (single ? 0 : partition);
  const readers = new Map<string, Part[]>();
  for (const part of parts) {
    for (const topic of [...part.definition.inputs.map(bus.topic), ...(single ? [] : [part.repartition])]) readers.set(topic, [...(readers.get(topic) ?? []), part]);
  }
  const tasks = new ReaderTasks((slot) => bus.taskProducer(`${group}.task-${slot}`), log);

  const remember = (memory: ServiceMemory<unknown>, causationId: string, position: LogPosition) => {
    const { handled } = memory;
    handled.set(causationId, [...(handled.get(causationId) ?? []), position]);
    if (handled.size > REMEMBERED_COMMANDS) handled.delete(handled.keys().next().value!);
  };

  /** Restores a service's state of the given partitions from the log (one pass for all), and hands it to `keep`. */
  async function restore(part: Part, slots: number[], heartbeat: () => Promise<void>, keep: (read: Map<number, ServiceMemory<unknown>>) => void): Promise<void> {
    const { definition } = part;
    const started = Date.now();
    // Fenced first: whatever a previous owner committed until now is in the log read next, and nothing after.
    await Promise.all(slots.map((slot) => tasks.producer(slot, heartbeat)));
    const fresh = new Map(slots.map((slot) => [slot, { states: new Map(), handled: new Map() } as ServiceMemory<unknown>]));
    // A heartbeat refused meanwhile (a rebalance) means these partitions may be moving: give the batch up afterwards.
    let rebalancing: unknown;
    const keepAlive = setInterval(() => void heartbeat().catch((error) => (rebalancing ??= error)), HEARTBEAT_EVERY_MS);
    let applied: number;
    try {
      applied = await replay(bus, part, slots, single, (slot, event, position) => {
        const memory = fresh.get(slot)!;
        applyEvent(definition, memory.states, event);
        // Only this service's own events mark their input handled: others' (and foreign ones) name causes not yet decided here.
        const foreign = definition.contract.topics[bus.logicalTopic(position.topic)]?.external !== undefined;
        if (!foreign && (event.producer === undefined || event.producer === definition.name)) remember(memory, event.causationId, position);
      });
    } finally {
      clearInterval(keepAlive);
    }
    keep(fresh);
    const aggregates = [...fresh.values()].reduce((n, m) => n + m.states.size, 0);
    part.log.info(`restored partition(s) ${slots.join(', ')} from ${applied} events in ${Date.now() - started} ms`, { aggregates });
    if (rebalancing) throw rebalancing;
  }

  /** What one service decides from its inputs of a batch: its part of the task's next write. */
  function decide(part: Part, slot: number, topic: string, partition: number, messages: BatchMessage[]) {
    const { definition } = part;
    const memory = tasks.at(slot).memories.get(definition.name)!;
    const decision = decideBatch(definition, memory, bus.logicalTopic(topic), messages, { memoryOf: homeOf(slot, memory, part.slotOfKey) });
    const write = writeOf(definition, decision, topic, partition, maxMessageBytes());
    for (const { offset, reason } of write.deadLetters) part.log.warn(`dead-lettering a message from ${topic}/${partition}@${offset}: ${reason}`);
    const { outputs, decidedIn } = decision;
    return { ...write, committed: (written: LogPosition[]) => outputs.forEach((event, i) => remember(decidedIn[i], event.causationId, written[i])) };
  }

  /**
   * Decides inputs and hands all they cause, with offset `next`, to the task's next transaction. On failure the
   * partition's memory is dropped and restored from the log, so inputs whose events landed are answered, not redecided.
   */
  async function handleBatch(topic: string, partition: number, fetched: Input[], next: bigint, heartbeat: () => Promise<void>, alone: boolean): Promise<void> {
    const slot = slotOfPartition(partition);
    const where = `${bus.logicalTopic(topic)}/${partition}`;
    let inputs = fetched;
    if (tasks.at(slot).uncertain.has(`${topic}:${partition}`)) {
      await tasks.producer(slot, heartbeat); // replaces the broken producer: the transaction it left is now committed or aborted
      tasks.at(slot).uncertain.delete(`${topic}:${partition}`);
      const committed = (await bus.committedOffsets(group, topic)).get(partition);
      inputs = notCommitted(fetched, committed);
      if (inputs.length < fetched.length) log.info(`the transaction of ${where} up to offset ${committed} had committed after all`);
      if (!inputs.length) {
        if (next > committed!) await skip(topic, partition, next, heartbeat);
        return;
      }
    }
    const involved = [...new Set(inputs.map(({ part }) => part))];
    let task: TaskProducer;
    // No await between deciding and handing the write over: a failed transaction drops the state it was decided on.
    for (;;) {
      for (const part of involved) await waitingOn(part.log, `restoring the state of partition ${slot} for ${where}`, tasks.restored(part.definition.name, slot, (gained, keep) => restore(part, gained, heartbeat, keep)));
      if (!tasks.assigned.has(slot)) throw new Error(`partition ${slot} of ${group} was taken by another instance while it was restored`);
      task = await tasks.producer(slot, heartbeat);
      if (involved.every((part) => tasks.at(slot).memories.has(part.definition.name))) break;
    }
    const decided = involved.map((part) => decide(part, slot, topic, partition, inputs.filter((input) => input.part === part).map(({ message }) => message)));
    const write: TaskWrite = {
      messages: decided.flatMap(({ messages }) => messages),
      after(written) {
        let at = 0;
        const each = decided.map(({ after, messages }) => after(written.slice(at, (at += messages.length))));
        return { replies: each.flatMap(({ replies }) => replies), deadLetters: each.flatMap(({ deadLetters }) => deadLetters) };
      },
      consumed: { group, topic, partition, next },
      alone,
      failed: () => tasks.failed(slot, involved.map((part) => part.definition.name), `${topic}:${partition}`, task.broken),
    };
    const written = await waitingOn(log, `committing ${write.messages.length} message(s) decided from ${where}`, commitMerged(task, write));
    let at = 0;
    for (const { committed, messages } of decided) committed(written.slice(at, (at += messages.length)));
  }

  /** An input that cannot be handled: recorded on `dead.letters`, and its command (if it is one) refused, with its offset. */
  async function setAside(topic: string, partition: number, { part, message }: Input, next: bigint, reason: string, heartbeat: () => Promise<void>): Promise<void> {
    const { definition } = part;
    part.log.error(`dead-lettering ${topic}/${partition}@${message.offset} after repeated failures: ${reason}`);
    const commandId = commandIdOf(definition.contract, message);
    const task = await tasks.producer(slotOfPartition(partition), heartbeat);
    await commitMerged(task, {
      messages: [],
      after: () => ({
        deadLetters: [{ source: { topic, partition, offset: message.offset, value: message.value, consumer: definition.name }, reason }],
        replies: commandId ? [{
          commandId, status: 'REJECTED', code: 'INTERNAL_SERVER_ERROR', positions: [],
          message: `the ${definition.name} service could not handle this command; it is on dead.letters for an operator`,
        }] : [],
      }),
      consumed: { group, topic, partition, next },
      alone: true,
    });
  }

  /** Moves the group past offsets nothing is decided from (replays meant for others, transaction markers). */
  async function skip(topic: string, partition: number, next: bigint, heartbeat?: () => Promise<void>): Promise<void> {
    const task = await tasks.producer(slotOfPartition(partition), heartbeat);
    await commitMerged(task, { messages: [], consumed: { group, topic, partition, next } });
  }

  /** A forwarded message is read as what it was on the topic it was first written to. */
  const asBatchMessage = (part: Part, topic: string, message: KafkaMessage): BatchMessage => {
    const origin = topic === part.repartition ? message.headers?.[ORIGIN_TOPIC_HEADER] : undefined;
    return origin === undefined ? message : { ...message, topic: String(origin) };
  };

  await takeOverPositions(bus, {
    group,
    services: parts.map((part) => ({ name: part.definition.name, topics: [...readers].filter(([, of]) => of.includes(part)).map(([topic]) => topic) })),
  }, log);
  const consumer = await runConsumer(bus, {
    group,
    topics: [...readers.keys()].map(bus.logicalTopic),
    fromBeginning: true,
    // Each transaction commits the offsets of what it decided.
    offsets: 'handler',
    partitionAssigners: [partitionNumberAssigner(single, () => tasks.holding())],
    prepare: (member) => {
      member.on(member.events.GROUP_JOIN, ({ payload }) => {
        // Synchronous, so no batch of the new generation is decided before the lost partitions are dropped.
        const assigned = new Set(Object.values(payload.memberAssignment).flat().map(slotOfPartition));
        const { lost, renewed } = tasks.join(payload.memberId, assigned);
        const now = single ? (assigned.size ? 'every partition (one aggregate)' : 'none (a standby)') : [...assigned].sort((a, b) => a - b).join(', ') || 'none';
        log.info(`assigned partition(s): ${now}`, { dropped: lost, ...(renewed && { renewed: 'joined as a new member' }) });
      });
      // A fetch that brought only transaction markers (or aborted writes) reaches no handler: its offsets are
      // committed here, so the group's position reaches the end of the log and readiness sees no lag.
      member.on(member.events.END_BATCH_PROCESS, ({ payload }) => {
        if (payload.batchSize !== 0 || !tasks.assigned.has(slotOfPartition(payload.partition))) return;
        skip(payload.topic, payload.partition, BigInt(payload.lastOffset) + 1n).catch((error) => {
          if (!isFenced(error)) log.warn(`could not move past ${payload.topic}/${payload.partition}@${payload.lastOffset}: ${reasonOf(error)}`);
        });
      });
    },
    run: () => ({
      // Only what was decided is resolved (not a batch given up, nor one of a partition that moved).
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: BATCHES_AT_ONCE,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition } = batch;
        if (!tasks.assigned.has(slotOfPartition(partition))) return; // fetched before the partition moved to another instance: not ours to decide
        const end = BigInt(batch.lastOffset()) + 1n; // past the batch's transaction markers too
        // Each record once per service of this reader that reads it (none: a replay meant for another consumer).
        const inputs: Input[] = batch.messages.flatMap((message) => (readers.get(topic) ?? [])
          .filter((part) => isFor(part.definition.name, message))
          .map((part) => ({ part, message: asBatchMessage(part, topic, message) })));
        const nextAfter = (some: Input[]) => nextOffsetAfter(inputs, some, end);
        if (inputs.length) {
          // A catch-up fetches thousands at once: each transaction takes a bounded part of them, so none grows long.
          for (let from = 0; from < inputs.length; from += MAX_INPUTS_PER_TRANSACTION) {
            if (!isRunning() || isStale()) return;
            const part = inputs.slice(from, from + MAX_INPUTS_PER_TRANSACTION);
            let failedBefore = false;
            await applyIsolating(part, {
              apply: (some) => handleBatch(topic, partition, some, nextAfter(some), heartbeat, failedBefore).catch((error) => {
                failedBefore = true;
                throw error;
              }),
              setAside: (input, reason) => setAside(topic, partition, input, nextAfter([input]), reason, heartbeat),
              infrastructureAnswers: () => isKafkaReachable(bus.kafka),
              pause: async (ms, attempt, error) => {
                log.warn(`failed on ${topic}/${partition}@${part[0].message.offset} (attempt ${attempt}), retrying in ${ms} ms: ${reasonOf(error)}`);
                // Another instance holds the task now: the batch is its to decide, and this member must rejoin.
                if (isFenced(error) || !isRunning() || isStale()) throw error;
                await new Promise((r) => setTimeout(r, ms));
                await heartbeat();
              },
            });
            resolveOffset(part.at(-1)!.message.offset);
          }
        } else {
          await skip(topic, partition, end, heartbeat);
        }
        resolveOffset(batch.lastOffset());
        await heartbeat();
      },
    }),
  }, log);
  log.info(`consuming ${[...readers.keys()].map(bus.logicalTopic).join(', ')}${parts.length > 1 ? ` for ${parts.map((part) => part.definition.name).join(', ')}` : ''}`);
  return {
    group,
    health: consumer.health,
    async stop() {
      await consumer.stop();
      await tasks.close();
    },
  };
}

/** The partition count all the service's topics must share, so partition p of each holds the same keys. */
async function checkPartitionCounts<S, K extends AnyContract>(bus: Bus, definition: ServiceDefinition<S, K>): Promise<number> {
  const partitions = await bus.partitionCount(bus.topic(repartitionTopic(definition.name)));
  if (definition.instances === 'single') return partitions;
  for (const logical of new Set([...definition.inputs, ...definition.stateTopics])) {
    if (isScattered(definition, logical)) continue;
    const count = await bus.partitionCount(bus.topic(logical));
    if (count !== partitions) {
      throw new Error(
        `${bus.topic(logical)} has ${count} partitions and ${bus.topic(repartitionTopic(definition.name))} ${partitions}: ` +
          `the ${definition.name} service needs the same count on both (recreate the topic, or run the setup script on an empty cluster)`,
      );
    }
  }
  return partitions;
}

/** A state topic whose partition p holds more than partition p's state: listed so, or foreign (e.g. Debezium's). */
function isScattered(definition: ServiceDefinition<unknown, AnyContract>, logical: string): boolean {
  return !!definition.scatteredStateTopics?.includes(logical) || definition.contract.topics[logical]?.external !== undefined;
}

function commandIdOf(contract: AnyContract, message: Pick<BatchMessage, 'value'>): string | undefined {
  try {
    const envelope = contract.decode(message.value);
    return envelope.kind === 'command' ? envelope.commandId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Replays the given partitions' state up to the state topics' current end; returns the events applied. An event id
 * met twice (a retried publish) is applied once.
 */
async function replay(
  bus: Bus,
  { definition, slotOfKey, log }: Part,
  slots: readonly number[],
  single: boolean,
  apply: (slot: number, event: EventEnvelope, position: LogPosition) => void,
): Promise<number> {
  if (!definition.stateTopics.length) return 0;
  const wanted = new Set(slots);
  const scatteredTopics = new Set<string>();
  const remaining = new Map<string, bigint>(); // topic:partition -> last offset still to read
  const needed = new Set<string>(); // physical topics to read
  for (const logical of definition.stateTopics) {
    const topic = bus.topic(logical);
    const scattered = single || isScattered(definition, logical);
    if (scattered) scatteredTopics.add(topic);
    for (const { partition, high, low } of await bus.topicOffsets(topic)) {
      if (!scattered && !wanted.has(partition)) continue;
      if (BigInt(high) > BigInt(low)) {
        remaining.set(`${topic}:${partition}`, BigInt(high) - 1n);
        needed.add(topic);
      }
    }
  }
  if (!remaining.size) return 0;
  const group = `${definition.name}.restore.${randomUUID()}`;
  const consumer: Consumer = bus.createConsumer(group);
  const seen = new Set<string>();
  let applied = 0;
  try {
    await withinTime(JOIN_TIMEOUT_MS, 'connecting the restore consumer', (async () => {
      await consumer.connect();
      for (const topic of needed) await consumer.subscribe({ topic, fromBeginning: true });
    })());
    // A long log takes a while: say how far the restore has got.
    const progress = setInterval(() => log.info(`restoring state: ${applied} events so far`), PROGRESS_EVERY_MS);
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((done, fail) => {
      timer = setTimeout(
        () => fail(new Error(`restoring state from ${definition.stateTopics.join(', ')} did not finish within ${RESTORE_TIMEOUT_MS} ms`)),
        RESTORE_TIMEOUT_MS,
      );
      consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
      // After every fetch, also one of only transaction markers or aborted writes: it reaches no handler and may end a partition.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const slot = `${payload.topic}:${payload.partition}`;
        const last = remaining.get(slot);
        if (last === undefined || BigInt(payload.lastOffset) < last) return;
        remaining.delete(slot);
        if (!remaining.size) done();
      });
      // kafkajs cannot assign partitions by hand: this lone member gets them all, and fetches only those needed.
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        const idle = Object.entries(payload.memberAssignment)
          .map(([topic, partitions]) => ({ topic, partitions: partitions.filter((p) => !remaining.has(`${topic}:${p}`)) }))
          .filter(({ partitions }) => partitions.length);
        if (idle.length) consumer.pause(idle);
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const slot = `${batch.topic}:${batch.partition}`;
            const last = remaining.get(slot);
            if (last === undefined) return; // not needed, or already read to its end
            const scattered = scatteredTopics.has(batch.topic);
            const logical = bus.logicalTopic(batch.topic);
            for (const message of batch.messages) {
              if (BigInt(message.offset) > last) break;
              if (!isFor(definition.name, message)) continue; // a replay meant for another consumer
              let envelope;
              try {
                envelope = definition.contract.read(logical, message);
              } catch (error) {
                log.warn(`skipping an invalid event while restoring: ${(error as Error).message}`);
                continue;
              }
              if (envelope?.kind !== 'event') continue;
              const key = definition.stateKey(envelope as never);
              if (key === undefined) continue;
              const owner = slotOfKey(key);
              if (!scattered && owner !== batch.partition) {
                fail(new Error(
                  `${batch.topic}/${batch.partition}@${message.offset} holds state of partition ${owner} (${envelope.type} keyed ${envelope.aggregateId}, ` +
                    `state key ${key}): list ${logical} in the ${definition.name} service's scatteredStateTopics`,
                ));
                return;
              }
              if (!wanted.has(owner) || seen.has(envelope.eventId)) continue;
              seen.add(envelope.eventId);
              apply(owner, envelope, { topic: batch.topic, partition: batch.partition, offset: message.offset });
              applied += 1;
            }
          },
        })
        .catch(fail);
    }).finally(() => {
      clearTimeout(timer);
      clearInterval(progress);
    });
  } finally {
    await withinTime(LEAVE_GROUP_TIMEOUT_MS, 'disconnecting the restore consumer', consumer.disconnect()).catch((error) => log.warn(reasonOf(error)));
    await bus.deleteGroup(group);
  }
  return applied;
}
