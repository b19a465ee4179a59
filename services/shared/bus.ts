/**
 * The event bus: one Kafka client per process, explicit topic creation, and publishing of envelopes
 * with the log position of each message, so readers can wait for exactly what a command wrote.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  Kafka, Partitioners, logLevel, type logCreator, type Admin, type Consumer, type IHeaders, type ISocketFactory, type KafkaMessage, type PartitionAssigner,
  type Producer, type ProducerBatch, type RecordMetadata, type RequestEvent,
} from 'kafkajs';
import { kafkaBrokers, maxMessageBytes, requestStatsDir, topicMinInsyncReplicas, topicPartitions, topicPrefix, topicReplicationFactor } from './config.ts';
import { SystemError, withinTime } from './errors.ts';
import './kafkajs-patches.ts'; // every client of this process without kafkajs's idle timer loop (see there)
import { RUNTIME_TOPICS, repartitionTopic, type CommandReply, type LogPosition, type Outgoing, type TopicSpec } from './messages.ts';
import { retry } from './retry.ts';

/**
 * Header of a dead letter replayed onto its source topic (`npm run dead-letters -- replay`): it names the one
 * consumer that refused it. Every other consumer of the topic applied the original already and skips the copy.
 */
export const REPLAY_FOR_HEADER = 'replay-for';

/** Whether this consumer should take the message: anything not replayed, and replays meant for it. */
export function isFor(consumer: string, message: Pick<KafkaMessage, 'headers'>): boolean {
  const target = message.headers?.[REPLAY_FOR_HEADER];
  return target === undefined || String(target) === consumer;
}

/**
 * A message passed on as it was read (a service's input that belongs to another partition's state): its value,
 * headers and timestamp kept, under a new key.
 */
export interface Forwarded {
  /** The logical topic it goes to. */
  topic: string;
  key: string;
  value: Buffer | null;
  headers: IHeaders;
  timestamp?: string;
}

/**
 * The partition kafkajs's default partitioner (the Java client's) puts a message with this key on, in a topic of
 * `partitions` partitions, so equal keys land on equal partition numbers in every topic of the same size. The
 * same murmur2 in 32-bit arithmetic: kafkajs's emulates 64-bit longs and takes minutes on a 600 KB key.
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
  /**
   * Runs `work` in a transaction and commits it with the offsets it consumed; aborts it if `work` or the commit
   * fails, and rethrows. Transactions run one at a time, in call order. Once another producer of the task fenced
   * this one, every call fails with a FENCED SystemError: the task is no longer this instance's.
   */
  transaction<T>(work: (txn: Transaction) => Promise<T>): Promise<T>;
  /**
   * Whether this producer can write no more: another producer of the task fenced it (every call fails FENCED), or a
   * failed transaction left it in a state kafkajs cannot leave, an abort or a commit that never finished (every call
   * fails UNAVAILABLE). Its owner replaces it with a new producer of the task once the group has confirmed the task
   * is its own (again): a new producer fences the others.
   */
  readonly broken: boolean;
  close(): Promise<void>;
}

/**
 * How long a transaction may stay open before the broker aborts it (kafkajs's default). A task that died
 * mid-transaction holds its read_committed readers back (they stop at its first write) until another instance
 * takes the task over, which aborts it at once, or for at most this long. Shorter, a large batch's transaction on a
 * busy machine was aborted under it, and retried, for good: a catch-up never finished (seen in CI at 10 s).
 */
export const TRANSACTION_TIMEOUT_MS = 60_000;

/**
 * A kafkajs failure of a produce, an offset commit or a transaction's end is the broker's or the client's (a
 * leader moving, a broker restarting, a sequence out of order after one), not the data's: UNAVAILABLE, which
 * isolation.ts waits out instead of setting the messages aside. A message the broker refuses as such stays what it
 * is, and so does anything that is not kafkajs's (e.g. a message too large for KAFKA_MAX_MESSAGE_BYTES).
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
  /**
   * Publishes envelopes keyed by aggregate id, and forwarded messages by their new key, in one request when they
   * fit; resolves with each one's log position (in the order given) once the broker has them.
   */
  publish(messages: readonly (Outgoing | Forwarded)[]): Promise<LogPosition[]>;
  /** Partitions of a physical topic (cached; the count never changes while the system runs). */
  partitionCount(physical: string): Promise<number>;
  publishReplies(replies: CommandReply[]): Promise<void>;
  /** Sets a message aside on `dead.letters`, with the reason and the consumer that refused it in headers. */
  publishDeadLetter(source: DeadLetterSource, reason: string): Promise<void>;
  /**
   * The transactional producer of one task (Kafka Streams' producer per task, before exactly_once_v2): `id` names
   * the task (e.g. `orders.task-3`) and stays the same across restarts and instances. Connecting it fences every
   * other producer of the task, a zombie instance's included: their next write or commit fails.
   */
  taskProducer(id: string): Promise<TaskProducer>;
  /**
   * Requests this bus's clients (producer, admin, consumers) have sent so far, by Kafka API name (`Produce`,
   * `Fetch`, `OffsetCommit`…): what each message costs the broker, measured (publishes share requests).
   */
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

/**
 * kafkajs's sockets, but without Nagle's algorithm, as the Java client and the broker have theirs: kafkajs leaves it
 * on, so a small request written while an earlier one on the same connection is unacknowledged waits for the
 * broker's ACK. Measured (`npm run bench -- --write-only`, two alternating pairs): 64 clients completed 148.9 and
 * 134.0 orders/s instead of 130.3 and 116.0, at 11.2 and 12.5 ms of CPU per order instead of 12.8 and 14.5.
 */
const noDelaySockets: ISocketFactory = ({ host, port, onConnect }) => {
  const socket = connect({ host, port }, onConnect);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
  return socket;
};

/** The messages of the error answers kafkajs retries that come with every start and failover. */
const TRANSIENT_ANSWERS = new Set(
  (createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { errorCodes: { type: string; message: string }[] }).errorCodes
    .filter(({ type }) => [
      'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'REPLICA_NOT_AVAILABLE', 'GROUP_LOAD_IN_PROGRESS',
      'GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR_FOR_GROUP', 'NOT_CONTROLLER', 'CONCURRENT_TRANSACTIONS', 'FETCH_SESSION_ID_NOT_FOUND',
      'INVALID_FETCH_SESSION_EPOCH', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'OFFSET_NOT_AVAILABLE', 'UNSTABLE_OFFSET_COMMIT',
    ].includes(type))
    .map(({ message }) => message),
);

/**
 * How every kafkajs client, producer, consumer and coordinator lookup here retries: at least once a second, for
 * about 20 s. kafkajs's default doubles its pause up to 30 s: with 8 retries it paused 6.4 s and then 12.8 s, and
 * restarted a crashed consumer only after its last pause. A broker failover takes about 10 s (the killed broker
 * fenced after its session timeout, new leaders and coordinators elected): a client that met the dead broker in its
 * first second came back 10 to 25 s after the new leaders were there, or gave up, which cost its consumer group a
 * rejoin and every task a restore (seen on a 3-broker cluster: a gateway consumer restarted 48 s after the kill).
 */
const KAFKA_RETRY = { initialRetryTime: 100, maxRetryTime: 1_000, retries: 20 };

export function createKafka(clientId: string, brokers: string[] = kafkaBrokers(), socketFactory?: ISocketFactory): Kafka {
  return new Kafka({
    clientId,
    brokers,
    socketFactory: socketFactory ?? noDelaySockets,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(clientId),
    retry: KAFKA_RETRY,
  });
}

// kafkajs logs through our one-line format; its warning about bounded producer retries is expected:
// every consumer here is idempotent, and unbounded retries would hang a request forever.
function kafkaLogCreator(clientId: string): logCreator {
  return () => ({ level, log }) => {
    const { message, timestamp: _, logger: __, ...fields } = log;
    if (message.startsWith('Limiting retries for the idempotent producer')) return;
    // kafkajs logs every error answer as an error, also those it retries itself: a coordinator still loading or a
    // leader moving (every start, every broker failover). They are not news; one that outlasts the retries fails
    // its call, and the caller says so.
    if (message.startsWith('Response ') && TRANSIENT_ANSWERS.has(String((fields as { error?: unknown }).error))) return;
    // Its producer's retries of them too (e.g. a transaction begun while the coordinator still ends the one before).
    if (message.startsWith('Failed to send messages: ') && TRANSIENT_ANSWERS.has(message.slice('Failed to send messages: '.length))) return;
    const name = level <= logLevel.ERROR ? 'error' : 'warn';
    console.error(`${name.padEnd(5)} ${clientId} kafkajs: ${message} ${JSON.stringify(fields)}`.trimEnd());
  };
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

/**
 * How the system's topics are replicated: KAFKA_REPLICATION_FACTOR, else the cluster's broker count up to 3; and,
 * when replicated, `min.insync.replicas` (KAFKA_MIN_INSYNC_REPLICAS, else 2 from 3 replicas on, else 1).
 */
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

/**
 * Retries an admin call on errors Kafka marks retriable (a partition whose leader is still being elected, or a
 * group coordinator still loading, right after a broker or topic starts), which kafkajs's admin client does not
 * retry by itself.
 */
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

/**
 * How long a produce or admin call may go unanswered. kafkajs's own retries of a broker that is down give up
 * sooner (about 20 s: KAFKA_RETRY); this bounds a client that waits on nothing, as seen once after a broker restart.
 */
const CALL_TIMEOUT_MS = 30_000;
/**
 * How long a consumer may take to leave its group before it is given up (its session then expires on the broker):
 * the one bound for every member this code stops, replaces or closes.
 */
export const LEAVE_GROUP_TIMEOUT_MS = 10_000;

/**
 * A kafkajs client whose calls are bounded in time. One that let a call go unanswered is replaced by a fresh one,
 * connected on the next call: whatever the stale one waits on may never come. The caller retries (for a publish, a
 * copy the stale producer still delivers carries the same event ids, which readers skip: batch.ts).
 */
function replaceable<C extends { connect(): Promise<void>; disconnect(): Promise<void> }>(create: () => C, timeoutMs: number) {
  let client = create();
  /** The current client's connection, made once (concurrent first calls share it); undefined to try again. */
  let connecting: Promise<void> | undefined;
  const connect = () => {
    const current = client;
    connecting ??= withinTime(timeoutMs, 'connecting to the broker', current.connect()).catch((error) => {
      if (client === current) connecting = undefined;
      throw error;
    });
    return connecting;
  };
  /** Replaces `stale`, which let `work` go unanswered; it is disconnected once that settles (kafkajs would reconnect it to retry meanwhile). */
  const replace = (stale: C, work: Promise<unknown>) => {
    if (client !== stale) return;
    client = create();
    connecting = undefined;
    void work.catch(() => {}).finally(() => stale.disconnect().catch(() => {}));
  };
  return {
    connect,
    async call<T>(what: string, work: (client: C) => Promise<T>): Promise<T> {
      const current = client;
      let pending: Promise<unknown> = Promise.resolve();
      try {
        pending = connect();
        await pending;
        pending = work(current);
        return (await withinTime(timeoutMs, what, pending)) as T;
      } catch (error) {
        if (error instanceof SystemError && error.code === 'UNAVAILABLE') replace(current, pending);
        throw error;
      }
    },
    disconnect: () => withinTime(timeoutMs, 'disconnecting from the broker', client.disconnect()),
  };
}

export async function createBus(options: BusOptions): Promise<Bus> {
  const prefix = options.prefix ?? topicPrefix();
  const kafka = createKafka(options.clientId, options.brokers, options.socketFactory);
  const callTimeoutMs = options.callTimeoutMs ?? CALL_TIMEOUT_MS;
  const requests: Record<string, number> = {};
  const countRequest = ({ payload }: RequestEvent) => { requests[payload.apiName] = (requests[payload.apiName] ?? 0) + 1; };
  // The producer of every publish (its answer gives each message's offset) and the admin client of every lookup.
  const producer = replaceable(() => {
    const created: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    created.on(created.events.REQUEST, countRequest);
    return created;
  }, callTimeoutMs);
  const admin = replaceable(() => {
    const created: Admin = kafka.admin();
    created.on(created.events.REQUEST, countRequest);
    return created;
  }, callTimeoutMs);
  const statsDir = requestStatsDir();
  const writeStats = () => writeFileSync(join(statsDir!, `${options.clientId}.${process.pid}.json`), JSON.stringify(requests));
  const statsTimer = statsDir ? setInterval(writeStats, 1000).unref() : undefined;
  await Promise.all([producer.connect(), admin.connect()]);
  const partitionCounts = new Map<string, number>();
  const consumers = new Set<Consumer>();
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

  // The partition is chosen here, with the same hash the default partitioner uses, so the offset of
  // every message is known from the broker's answer.
  async function partitionFor(physical: string, key: string): Promise<number> {
    return partitionOfKey(key, await partitionCount(physical));
  }

  /** A message ready for a request; `cause` keeps one cause's events in one request. */
  type Placed = {
    physical: string; partition: number; key: string; value: string | Buffer | null; headers: IHeaders; timestamp?: string; cause: string;
  };

  function place(message: Outgoing | Forwarded): Promise<Placed> {
    const physical = topic(message.topic);
    if ('envelope' in message) {
      const { envelope } = message;
      const key = envelope.aggregateId;
      const cause = envelope.kind === 'event' ? envelope.causationId : envelope.commandId;
      return partitionFor(physical, key).then((partition) => ({
        physical, partition, key, value: JSON.stringify(envelope), headers: { type: envelope.type }, cause,
      }));
    }
    const { key, value, headers, timestamp } = message;
    return partitionFor(physical, key).then((partition) => ({ physical, partition, key, value, headers, timestamp, cause: `${physical}:${key}` }));
  }

  // Concurrent publishes share requests. The idempotent producer keeps one request in flight, so a gateway sending
  // one command per mutation would be capped at one round trip per command; instead, while a request is in
  // flight, the next gathers everything published meanwhile: N waiting callers cost one round trip, in order.
  const waiting: { items: Placed[]; done(positions: LogPosition[]): void; fail(error: unknown): void }[] = [];
  let sending = false;

  async function publish(messages: readonly (Outgoing | Forwarded)[]): Promise<LogPosition[]> {
    if (!messages.length) return [];
    return enqueue(await Promise.all(messages.map(place)));
  }

  function enqueue(items: Placed[]): Promise<LogPosition[]> {
    return new Promise<LogPosition[]>((done, fail) => {
      waiting.push({ items, done, fail });
      void drain();
    });
  }

  async function drain(): Promise<void> {
    if (sending) return;
    sending = true;
    try {
      while (waiting.length) {
        const callers = waiting.splice(0);
        const positions: LogPosition[] = [];
        try {
          for (const request of byRequestSize(callers.flatMap((c) => c.items))) positions.push(...(await send(request)));
        } catch (error) {
          for (const caller of callers) caller.fail(error); // each retries as it would have alone
          continue;
        }
        let from = 0;
        for (const caller of callers) {
          caller.done(positions.slice(from, from + caller.items.length));
          from += caller.items.length;
        }
      }
    } finally {
      sending = false;
    }
  }

  /**
   * The broker refuses a request whose messages for one partition exceed its message.max.bytes as a whole (the
   * record batch), however small each one is: a service deciding a backlog (thousands of commands fetched at once)
   * would fail every batch. So a publish goes out in requests of at most half the largest message, in order (one
   * request in flight), never splitting the events of one cause.
   */
  function byRequestSize(placed: Placed[]): Placed[][] {
    const budget = maxMessageBytes() / 2;
    const requests: Placed[][] = [];
    let bytes = 0;
    placed.forEach((item, i) => {
      const size = (item.value === null ? 0 : Buffer.byteLength(item.value)) + item.key.length + 64;
      if (!requests.length || (bytes + size > budget && item.cause !== placed[i - 1].cause)) {
        requests.push([]);
        bytes = 0;
      }
      requests.at(-1)!.push(item);
      bytes += size;
    });
    return requests;
  }

  function send(placed: Placed[]): Promise<LogPosition[]> {
    return sendWith((batch) => producer.call(`publishing ${placed.length} message(s)`, (p) => p.sendBatch(batch)), placed);
  }

  /** Sends placed messages in one request through `sendBatch` and answers each one's position. */
  async function sendWith(sendBatch: (batch: ProducerBatch) => Promise<RecordMetadata[]>, placed: Placed[]): Promise<LogPosition[]> {
    const byTopic = new Map<string, typeof placed>();
    for (const item of placed) byTopic.set(item.physical, [...(byTopic.get(item.physical) ?? []), item]);
    const metadata = await sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([physical, items]) => ({
        topic: physical,
        messages: items.map(({ key, partition, value, headers, timestamp }) => ({ key, partition, value, headers, timestamp })),
      })),
    });
    // Within one request, a partition's messages get consecutive offsets from its base offset.
    const next = new Map(metadata.map((m) => [`${m.topicName}:${m.partition}`, BigInt(m.baseOffset ?? '0')]));
    return placed.map(({ physical, partition }) => {
      const slot = `${physical}:${partition}`;
      const offset = next.get(slot);
      // kafkajs answers a produce it retried with the last attempt's partitions only: where these landed is unknown.
      if (offset === undefined) throw new SystemError('UNAVAILABLE', `Kafka did not say where the messages for ${slot} landed (a produce retried after a broker failed): sent again`, true);
      next.set(slot, offset + 1n);
      return { topic: physical, partition, offset: offset.toString() };
    });
  }

  async function placeReplies(replies: CommandReply[]): Promise<Placed[]> {
    const physical = topic(RUNTIME_TOPICS.commandReplies);
    return Promise.all(replies.map(async (reply) => ({
      physical, partition: await partitionFor(physical, reply.commandId), key: reply.commandId, value: JSON.stringify(reply), headers: {}, cause: reply.commandId,
    })));
  }

  function deadLetter(source: DeadLetterSource, reason: string) {
    return {
      topic: topic(RUNTIME_TOPICS.deadLetters),
      acks: -1,
      messages: [{
        key: `${source.topic}:${source.partition}:${source.offset}`,
        value: source.value,
        headers: { reason, consumer: source.consumer, sourceTopic: source.topic, sourcePartition: String(source.partition), sourceOffset: source.offset },
      }],
    };
  }

  async function taskProducer(id: string): Promise<TaskProducer> {
    const transactionalId = prefix + id;
    const created = kafka.producer({
      transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: TRANSACTION_TIMEOUT_MS, createPartitioner: Partitioners.DefaultPartitioner,
    });
    created.on(created.events.REQUEST, countRequest);
    const bounded = <T>(what: string, work: Promise<T>) => withinTime(callTimeoutMs, `${what} (task ${id})`, work);
    try {
      await bounded('connecting a task producer', created.connect());
      // Registers the transactional id with its coordinator, which fences the task's other producers and aborts
      // a transaction one of them left open.
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
      const write = (placed: Placed[]) => sendWith((batch) => bounded(`publishing ${placed.length} message(s)`, txn.sendBatch(batch)), placed);
      try {
        const result = await work({
          publish: async (messages) => {
            const positions: LogPosition[] = [];
            for (const request of byRequestSize(await Promise.all(messages.map(place)))) positions.push(...(await write(request)));
            return positions;
          },
          async publishReplies(replies) {
            if (replies.length) for (const request of byRequestSize(await placeReplies(replies))) await write(request);
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
        // Failed before its commit: aborted here. Failed in its commit (EndTxn unanswered, or answered after the wait
        // gave up): kafkajs may still finish it, so it may have landed; its owner learns the outcome from the group's
        // committed offsets once a new producer fenced this one. Either way this producer is not used again: kafkajs
        // takes back the sequence numbers of a produce that failed although the broker may have appended it, and the
        // broker would take the next batch sent with those numbers for a duplicate and drop it, in a transaction
        // that then commits without it (seen on a 3-broker cluster: a StockReserved missing beside its verdict). A new
        // producer (a new epoch) numbers afresh.
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

  return {
    kafka,
    prefix,
    topic,
    taskProducer,
    logicalTopic(physical) {
      if (!physical.startsWith(prefix)) throw new Error(`topic ${physical} is not under the prefix "${prefix}"`);
      return physical.slice(prefix.length);
    },
    publish,
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
      // kafkajs's fetchTopicOffsets throws a TypeError when an answer about a partition is missing, as from a broker
      // still electing the leaders of a new topic (seen at a first start): that is worth another try too.
      return withKafkaRetries(() => admin.call(`reading the offsets of ${physical}`, (a) => a.fetchTopicOffsets(physical)), 30, (error) => isRetriable(error) || error instanceof TypeError);
    },
    async committedOffsets(group, physical) {
      const [found] = await withKafkaRetries(() => admin.call(`reading the committed offsets of ${prefix + group}`, (a) => a.fetchOffsets({ groupId: prefix + group, topics: [physical] })));
      // -1: nothing committed yet.
      return new Map((found?.partitions ?? []).filter((p) => p.offset !== '-1').map((p) => [p.partition, BigInt(p.offset)]));
    },
    createConsumer(group, consumerOptions = {}) {
      const consumer = kafka.consumer({
        groupId: prefix + group,
        sessionTimeout: consumerOptions.sessionTimeout ?? 10_000,
        heartbeatInterval: 1_000,
        rebalanceTimeout: 10_000,
        // How long the broker holds a fetch that found nothing: new data answers it at once (measured: a consumer of
        // three 6-partition topics got messages 9 ms p50 after the send with 2,000 ms as with 100), so this is
        // the idle polling rate: 2 fetches/s per idle consumer. At 100 ms an idle `npm start` kept 0.4 of a core
        // busy (broker, services, gateway). A rebalance or a seek may wait for the fetch in flight.
        maxWaitTimeInMs: 500,
        retry: KAFKA_RETRY,
        ...(consumerOptions.partitionAssigners && { partitionAssigners: consumerOptions.partitionAssigners }),
      });
      consumers.add(consumer);
      consumer.on(consumer.events.REQUEST, countRequest);
      return consumer;
    },
    async deleteGroup(group) {
      await admin.call(`deleting consumer group ${prefix + group}`, (a) => a.deleteGroups([prefix + group])).catch(() => {});
    },
    async close() {
      if (statsTimer) {
        clearInterval(statsTimer);
        writeStats();
      }
      // Bounded: a member given up by runConsumer may never finish leaving.
      await Promise.allSettled([...consumers].map((c) => withinTime(LEAVE_GROUP_TIMEOUT_MS, 'disconnecting a consumer', c.disconnect())));
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
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
