/**
 * The event bus: one Kafka client per process, explicit topic creation, and publishing of envelopes
 * with the log position of each message, so readers can wait for exactly what a command wrote.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin, Consumer, IHeaders, ISocketFactory, Kafka, KafkaMessage, PartitionAssigner, Producer } from 'kafkajs';
import { requestStatsDir, topicMinInsyncReplicas, topicPartitions, topicPrefix, topicReplicationFactor } from './config.ts';
import { SystemError, withinTime } from './errors.ts';
import { CALL_TIMEOUT_MS, createClients, createKafka } from './kafka-clients.ts';
import { RUNTIME_TOPICS, repartitionTopic, type CommandReply, type LogPosition, type Outgoing, type TopicSpec } from './messages.ts';
import { placement, publishQueue, sendPlaced, type Placed, type Placement } from './publishing.ts';
import { retry } from './retry.ts';
import { schemaIds, type SchemaIds } from './wire.ts';

/** Names the one consumer a replayed dead letter is for; every other consumer applied the original and skips it. */
export const REPLAY_FOR_HEADER = 'replay-for';

export { createKafka, LEAVE_GROUP_TIMEOUT_MS, TRANSACTION_TIMEOUT_MS } from './kafka-clients.ts';

/** Whether this consumer should take the message: anything not replayed, and replays meant for it. */
export function isFor(consumer: string, message: Pick<KafkaMessage, 'headers'>): boolean {
  const target = message.headers?.[REPLAY_FOR_HEADER];
  return target === undefined || String(target) === consumer;
}

/** An input forwarded to another partition's state: value, headers and timestamp kept, under a new key. */
export interface Forwarded {
  /** The logical topic it goes to. */
  topic: string;
  key: string;
  value: Buffer | null;
  headers: IHeaders;
  timestamp?: string;
}

/**
 * The partition kafkajs's default partitioner (the Java client's) picks for this key. The same murmur2 in 32-bit
 * arithmetic: kafkajs's emulates 64-bit longs and takes minutes on a 600 KB key.
 */
export function partitionOfKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions;
}

function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const tail = length & ~3;
  for (let i = 0; i < tail; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  switch (length % 4) {
    case 3:
      h ^= data[tail + 2] << 16;
    // falls through
    case 2:
      h ^= data[tail + 1] << 8;
    // falls through
    case 1:
      h ^= data[tail];
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  return h ^ (h >>> 15);
}

export interface DeadLetterSource {
  topic: string;
  partition: number;
  offset: string;
  value: Buffer | null;
  consumer: string;
}

/** What a task writes while it handles input, committed with the input's offsets, or not at all. */
export interface Transaction {
  /** As Bus.publish, inside the transaction: read_committed readers see it once the transaction commits. */
  publish(messages: readonly (Outgoing | Forwarded)[]): Promise<LogPosition[]>;
  publishReplies(replies: CommandReply[]): Promise<void>;
  publishDeadLetter(source: DeadLetterSource, reason: string): Promise<void>;
  /** Commits, with the rest, that consumer group `group` (without the prefix) reads `physical`/`partition` on from `nextOffset`. */
  consumed(group: string, physical: string, partition: number, nextOffset: string): void;
}

export interface TaskProducer {
  /** Runs `work` in a transaction committed with its consumed offsets; one at a time, in call order. FENCED once taken over. */
  transaction<T>(work: (txn: Transaction) => Promise<T>): Promise<T>;
  /** Fenced, or left by a failed transaction in a state kafkajs cannot leave: its owner replaces it with a new producer. */
  readonly broken: boolean;
  close(): Promise<void>;
}

/**
 * A kafkajs failure is the broker's or client's, not the data's: UNAVAILABLE, which isolation.ts waits out instead of
 * setting messages aside. A message the broker refuses as such, or a non-kafkajs error, stays what it is.
 */
function asUnavailable(error: unknown): unknown {
  const { name, type, message } = error as { name?: string; type?: string; message?: string };
  if (!name?.startsWith('KafkaJS') || ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE'].includes(type ?? '')) return error;
  return new SystemError('UNAVAILABLE', `Kafka did not take a transaction: ${message}`, true);
}

/** Whether Kafka refused a write or commit because another producer of the task took over (INVALID_PRODUCER_EPOCH, PRODUCER_FENCED). */
export function isFenced(error: unknown): boolean {
  for (let cause = error as { type?: string; code?: number; cause?: unknown; originalError?: unknown } | undefined; cause; cause = (cause.cause ?? cause.originalError) as typeof cause) {
    if (cause.type === 'INVALID_PRODUCER_EPOCH' || cause.code === 47 || cause.code === 90) return true;
    if (cause instanceof SystemError && cause.code === 'FENCED') return true;
  }
  return false;
}

export interface BusOptions {
  clientId: string;
  brokers?: string[];
  /** Prefix of every topic and consumer group. Default: TOPIC_PREFIX, or none. */
  prefix?: string;
  /** How the clients open sockets (kafkajs's option), e.g. a test's network that stops answering. */
  socketFactory?: ISocketFactory;
  /** How long a produce or admin call may go unanswered. Default: CALL_TIMEOUT_MS. */
  callTimeoutMs?: number;
}

export interface Bus {
  readonly kafka: Kafka;
  readonly prefix: string;
  /** The physical topic name of a logical topic. */
  topic(name: string): string;
  /** The logical topic name of a physical topic. */
  logicalTopic(physical: string): string;
  /** Publishes keyed by aggregate id (forwards by their new key); resolves with each one's log position, in order. */
  publish(messages: readonly (Outgoing | Forwarded)[]): Promise<LogPosition[]>;
  /** Partitions of a physical topic (cached; the count never changes while the system runs). */
  partitionCount(physical: string): Promise<number>;
  publishReplies(replies: CommandReply[]): Promise<void>;
  /** Sets a message aside on `dead.letters`, with the reason and the consumer that refused it in headers. */
  publishDeadLetter(source: DeadLetterSource, reason: string): Promise<void>;
  /** The transactional producer of task `id` (e.g. `orders.task-3`), stable across restarts; connecting it fences the others. */
  taskProducer(id: string): Promise<TaskProducer>;
  /** Requests this bus's clients have sent so far, by Kafka API name (`Produce`, `Fetch`…). */
  requestCounts(): Record<string, number>;
  /** The Kafka cluster's id: it names the log, so state derived from another log is recognized. */
  clusterId(): Promise<string>;
  /** Low and high watermarks of a physical topic's partitions (retried while leaders are elected). */
  topicOffsets(physical: string): Promise<{ partition: number; low: string; high: string }[]>;
  /** The offsets a consumer group (without the prefix) committed on a physical topic, by partition; none for a partition never committed. */
  committedOffsets(group: string, physical: string): Promise<Map<number, bigint>>;
  /** `partitionAssigners`: how the group shares partitions (default: kafkajs's round robin). */
  createConsumer(group: string, options?: { sessionTimeout?: number; partitionAssigners?: PartitionAssigner[] }): Consumer;
  /** Removes a consumer group created with `createConsumer` that is of no use once it stops; best effort. */
  deleteGroup(group: string): Promise<void>;
  close(): Promise<void>;
}

/** Every topic of the system: the runtime's, each domain's, and each service's repartition topic, by logical name. */
export function systemTopics(
  domains: readonly { topics: Record<string, TopicSpec>; services?: readonly { name: string }[] }[],
): Map<string, TopicSpec> {
  const topics = new Map<string, TopicSpec>(Object.values(RUNTIME_TOPICS).map((name) => [name, {}]));
  for (const domain of domains) {
    for (const [name, spec] of Object.entries(domain.topics)) topics.set(name, spec);
    for (const service of domain.services ?? []) topics.set(repartitionTopic(service.name), {});
  }
  return topics;
}

/** KAFKA_REPLICATION_FACTOR, else brokers up to 3; KAFKA_MIN_INSYNC_REPLICAS, else 2 from 3 replicas on, else 1. */
async function replicationOf(admin: Admin): Promise<{ replicationFactor: number; replicated: { name: string; value: string }[] }> {
  const replicationFactor = topicReplicationFactor() ?? Math.min(3, (await admin.describeCluster()).brokers.length);
  const minInsync = topicMinInsyncReplicas() ?? (replicationFactor >= 3 ? 2 : 1);
  return { replicationFactor, replicated: replicationFactor > 1 ? [{ name: 'min.insync.replicas', value: String(minInsync) }] : [] };
}

/** Creates the given topics if missing, with a fixed partition count and replication. Never relies on auto-creation. */
export async function ensureTopics(
  kafka: Kafka,
  topics: Map<string, TopicSpec>,
  prefix = topicPrefix(),
  partitions = topicPartitions(),
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = [...topics].filter(([name]) => !existing.has(prefix + name));
    if (missing.length) {
      const { replicationFactor, replicated } = await replicationOf(admin);
      await admin.createTopics({
        // kafkajs gives up on UNKNOWN_TOPIC_OR_PARTITION while waiting for leaders; we wait ourselves.
        waitForLeaders: false,
        topics: missing.map(([name, spec]) => ({
          topic: prefix + name,
          numPartitions: partitions,
          replicationFactor,
          configEntries: [...(spec.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []), ...replicated],
        })),
      }).catch((error: { type?: string }) => {
        if (error.type !== 'TOPIC_ALREADY_EXISTS') throw error; // created meanwhile (e.g. by Kafka Connect)
      });
      await waitForLeaders(admin, missing.map(([name]) => prefix + name));
    }
    return missing.map(([name]) => prefix + name);
  } finally {
    await admin.disconnect();
  }
}

/** How long a probe of the broker may take, to connect and to disconnect. */
const PROBE_TIMEOUT_MS = 5_000;

/** True when a broker answers a metadata request within PROBE_TIMEOUT_MS; never retries (health checks and probes). */
export async function isKafkaReachable(kafka: Kafka): Promise<boolean> {
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await withinTime(PROBE_TIMEOUT_MS, 'asking the broker for the cluster', admin.connect().then(() => admin.describeCluster()));
    return true;
  } catch {
    return false;
  } finally {
    await withinTime(PROBE_TIMEOUT_MS, 'disconnecting a probe', admin.disconnect()).catch(() => {});
  }
}

/** Deletes every topic and consumer group under `prefix` (a test run's or benchmark's own system). */
export async function deleteTopicsAndGroups(kafka: Kafka, prefix: string): Promise<void> {
  if (!prefix) throw new Error('refusing to delete every topic: give a prefix');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    const ours = groups.map((g) => g.groupId).filter((id) => id.startsWith(prefix));
    if (ours.length) await admin.deleteGroups(ours).catch(() => {});
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

/** What kafkajs marks as worth another try (not a call that went unanswered: its caller retries that). */
const isRetriable = (error: unknown) => !(error instanceof SystemError) && !!(error as { retriable?: boolean }).retriable;

/** Retries an admin call on errors Kafka marks retriable (leader election, coordinator loading): kafkajs's admin does not. */
export function withKafkaRetries<T>(call: () => Promise<T>, attempts = 30, retriable = isRetriable): Promise<T> {
  return retry(call, { firstMs: 100, maxMs: 1_000, attempts, retriable });
}

async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  await retry(async () => {
    const { topics: found } = await admin.fetchTopicMetadata({ topics });
    if (found.length === topics.length && found.every((t) => t.partitions.length && t.partitions.every((p) => p.leader >= 0))) return;
    throw new Error(`topics ${topics.join(', ')} have no leaders after ${timeoutMs} ms`);
  }, { firstMs: 100, maxMs: 100, until: Date.now() + timeoutMs });
}

export async function createBus(options: BusOptions): Promise<Bus> {
  const prefix = options.prefix ?? topicPrefix();
  const kafka = createKafka(options.clientId, options.brokers, options.socketFactory);
  const callTimeoutMs = options.callTimeoutMs ?? CALL_TIMEOUT_MS;
  const clients = createClients(kafka, callTimeoutMs);
  const { producer, admin, requests } = clients;
  const statsDir = requestStatsDir();
  const writeStats = () => writeFileSync(join(statsDir!, `${options.clientId}.${process.pid}.json`), JSON.stringify(requests));
  const statsTimer = statsDir ? setInterval(writeStats, 1000).unref() : undefined;
  await Promise.all([producer.connect(), admin.connect()]);
  const partitionCounts = new Map<string, number>();
  let clusterId: Promise<string> | undefined;

  const topic = (name: string) => prefix + name;

  async function partitionCount(physical: string): Promise<number> {
    let count = partitionCounts.get(physical);
    if (count === undefined) {
      const metadata = await withKafkaRetries(() => admin.call(`reading the metadata of ${physical}`, (a) => a.fetchTopicMetadata({ topics: [physical] })));
      count = metadata.topics[0]?.partitions.length ?? 0;
      if (!count) throw new SystemError('UNAVAILABLE', `topic ${physical} does not exist: run the start script, which creates it`, true);
      partitionCounts.set(physical, count);
    }
    return count;
  }

  // Chosen here, as the default partitioner would, so each message's offset is known from the broker's answer.
  async function partitionFor(physical: string, key: string): Promise<number> {
    return partitionOfKey(key, await partitionCount(physical));
  }

  const { place, placeReplies, deadLetter } = placement(prefix, partitionFor, schemaIds());
  const enqueue = publishQueue((placed) => sendPlaced((batch, count) => producer.call(`publishing ${count} message(s)`, (p) => p.sendBatch(batch)), placed));

  return {
    kafka,
    prefix,
    topic,
    taskProducer: (id) => openTaskProducer(clients.transactionalProducer(prefix + id), id, { prefix, callTimeoutMs, place, placeReplies, deadLetter }),
    logicalTopic(physical) {
      if (!physical.startsWith(prefix)) throw new Error(`topic ${physical} is not under the prefix "${prefix}"`);
      return physical.slice(prefix.length);
    },
    async publish(messages) {
      if (!messages.length) return [];
      return enqueue(await Promise.all(messages.map(place)));
    },
    partitionCount,
    async publishReplies(replies) {
      if (!replies.length) return;
      // Through the same queue as events: replies share requests with whatever else this process publishes meanwhile.
      await enqueue(await placeReplies(replies));
    },
    async publishDeadLetter(source, reason) {
      await producer.call('publishing a dead letter', (p) => p.send(deadLetter(source, reason)));
    },
    requestCounts: () => ({ ...requests }),
    async clusterId() {
      clusterId ??= withKafkaRetries(() => admin.call('describing the cluster', (a) => a.describeCluster())).then((cluster) => cluster.clusterId);
      return clusterId.catch((error) => {
        clusterId = undefined;
        throw error;
      });
    },
    async topicOffsets(physical) {
      // kafkajs throws a TypeError when a partition is missing from the answer (leaders still being elected): retry it too.
      return withKafkaRetries(() => admin.call(`reading the offsets of ${physical}`, (a) => a.fetchTopicOffsets(physical)), 30, (error) => isRetriable(error) || error instanceof TypeError);
    },
    async committedOffsets(group, physical) {
      const [found] = await withKafkaRetries(() => admin.call(`reading the committed offsets of ${prefix + group}`, (a) => a.fetchOffsets({ groupId: prefix + group, topics: [physical] })));
      // -1: nothing committed yet.
      return new Map((found?.partitions ?? []).filter((p) => p.offset !== '-1').map((p) => [p.partition, BigInt(p.offset)]));
    },
    createConsumer: (group, consumerOptions = {}) => learningSchemaIds(clients.consumer(prefix + group, consumerOptions), schemaIds()),
    async deleteGroup(group) {
      await admin.call(`deleting consumer group ${prefix + group}`, (a) => a.deleteGroups([prefix + group])).catch(() => {});
    },
    async close() {
      if (statsTimer) {
        clearInterval(statsTimer);
        writeStats();
      }
      await clients.close();
    },
  };
}

/** A consumer whose handlers see only messages whose schema ids it has looked up: they decode without a registry call. */
function learningSchemaIds(consumer: Consumer, ids: SchemaIds): Consumer {
  const run = consumer.run.bind(consumer);
  consumer.run = (config = {}) => {
    const { eachBatch, eachMessage } = config;
    return run({
      ...config,
      ...(eachBatch && {
        eachBatch: async (payload) => {
          await ids.learn(payload.batch.messages.map((m) => m.value));
          return eachBatch(payload);
        },
      }),
      ...(eachMessage && {
        eachMessage: async (payload) => {
          await ids.learn([payload.message.value]);
          return eachMessage(payload);
        },
      }),
    });
  };
  return consumer;
}

/** Connects `created`, the transactional producer of task `id`, fences the task's other producers, and runs its transactions. */
async function openTaskProducer(
  created: Producer, id: string, { prefix, callTimeoutMs, place, placeReplies, deadLetter }: { prefix: string; callTimeoutMs: number } & Placement,
): Promise<TaskProducer> {
  const bounded = <T>(what: string, work: Promise<T>) => withinTime(callTimeoutMs, `${what} (task ${id})`, work);
  try {
    await bounded('connecting a task producer', created.connect());
    // Registering the transactional id fences the task's other producers and aborts a transaction they left open.
    await bounded('fencing the task\'s other producers', created.transaction().then((t) => t.abort()));
  } catch (error) {
    await created.disconnect().catch(() => {});
    throw error;
  }
  let fenced = false;
  let broken = false;
  let closed = false;
  let last: Promise<unknown> = Promise.resolve();

  async function run<T>(work: (txn: Transaction) => Promise<T>): Promise<T> {
    // Retriable: by whichever instance holds the task now (isolation.ts must not set the input aside for it).
    if (fenced) throw new SystemError('FENCED', `task ${id} was taken over by another instance`, true);
    if (closed || broken) throw new SystemError('UNAVAILABLE', `the producer of task ${id} is ${closed ? 'closed' : 'being replaced after a transaction that did not end'}`, true);
    const txn = await bounded('beginning a transaction', created.transaction()).catch((error) => {
      broken = true;
      throw asUnavailable(error);
    });
    const offsets = new Map<string, Map<string, Map<number, string>>>(); // group -> topic -> partition -> next offset
    const write = (placed: Placed[]) => sendPlaced((batch, count) => bounded(`publishing ${count} message(s)`, txn.sendBatch(batch)), placed);
    try {
      const result = await work({
        publish: async (messages) => write(await Promise.all(messages.map(place))),
        async publishReplies(replies) {
          if (replies.length) await write(await placeReplies(replies));
        },
        async publishDeadLetter(source, reason) {
          await bounded('publishing a dead letter', txn.send(deadLetter(source, reason)));
        },
        consumed(group, physical, partition, nextOffset) {
          const topics = offsets.get(group) ?? new Map<string, Map<number, string>>();
          offsets.set(group, topics);
          const partitions = topics.get(physical) ?? new Map<number, string>();
          topics.set(physical, partitions);
          partitions.set(partition, nextOffset);
        },
      });
      for (const [group, topics] of offsets) {
        await bounded(`committing the offsets of ${prefix + group}`, txn.sendOffsets({
          consumerGroupId: prefix + group,
          topics: [...topics].map(([physical, partitions]) => ({ topic: physical, partitions: [...partitions].map(([partition, offset]) => ({ partition, offset })) })),
        }));
      }
      await bounded('committing a transaction', txn.commit());
      return result;
    } catch (error) {
      if (isFenced(error)) {
        fenced = true;
        throw new SystemError('FENCED', `task ${id} was taken over by another instance: ${(error as Error).message}`, true);
      }
      // A failed commit may still have landed: the owner learns it from the committed offsets after fencing this one.
      // Never reused: kafkajs takes back the sequence numbers of a failed produce the broker may have appended, and the
      // broker then drops the next batch as a duplicate in a transaction that commits without it (seen on a 3-broker
      // cluster: a StockReserved missing beside its verdict). A new producer (epoch) numbers afresh.
      if (txn.isActive()) await bounded('aborting a transaction', txn.abort()).catch(() => {});
      broken = true;
      throw asUnavailable(error);
    }
  }

  return {
    transaction<T>(work: (txn: Transaction) => Promise<T>): Promise<T> {
      const next = last.then(() => run(work), () => run(work));
      last = next.catch(() => {});
      return next;
    },
    get broken() {
      return broken || fenced;
    },
    async close() {
      closed = true;
      await last;
      await withinTime(callTimeoutMs, `disconnecting the producer of task ${id}`, created.disconnect()).catch(() => {});
    },
  };
}

/** Resolves once the consumer has joined its group and received its partitions. */
export function joined(consumer: Consumer, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer did not join its group within ${timeoutMs} ms`)), timeoutMs);
    const off = consumer.on(consumer.events.GROUP_JOIN, () => {
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}
