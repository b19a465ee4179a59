/**
 * Internal to bus.ts: every kafkajs client is made here, so that all retry alike (KAFKA_RETRY), log in the runtime's
 * format, open sockets without Nagle's algorithm and count their requests.
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import {
  Kafka, Partitioners, logLevel, type logCreator, type Admin, type Consumer, type ISocketFactory, type PartitionAssigner, type Producer,
} from 'kafkajs';
import { kafkaBrokers } from './config.ts';
import { SystemError, withinTime } from './errors.ts';
import './kafkajs-patches.ts'; // every client of this process without kafkajs's idle timer loop (see there)

/**
 * How long a transaction may stay open before the broker aborts it (kafkajs's default); a dead task holds
 * read_committed readers back at most this long. At 10 s a large batch on a busy CI machine was aborted forever.
 */
export const TRANSACTION_TIMEOUT_MS = 60_000;

/**
 * kafkajs's sockets without Nagle's algorithm (as the Java client's): else a small request behind an unacknowledged
 * one waits for the ACK. Measured with `npm run bench -- --write-only`: ~14 % more orders/s, ~12 % less CPU each.
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
 * Every kafkajs client retries at least once a second for about 20 s. kafkajs's default doubles its pause up to
 * 30 s, so a client that met a dead broker came back 10 to 25 s after a ~10 s failover, or gave up (seen on a
 * 3-broker cluster: a gateway consumer restarted 48 s after the kill).
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

// kafkajs logs in our one-line format; its warning about bounded producer retries is expected (consumers are idempotent).
function kafkaLogCreator(clientId: string): logCreator {
  return () => ({ level, log }) => {
    const { message, timestamp: _, logger: __, ...fields } = log;
    if (message.startsWith('Limiting retries for the idempotent producer')) return;
    // Not news: error answers kafkajs retries itself (every start and failover); one that outlasts the retries fails its call.
    if (message.startsWith('Response ') && TRANSIENT_ANSWERS.has(String((fields as { error?: unknown }).error))) return;
    // Its producer's retries of them too (e.g. a transaction begun while the coordinator still ends the one before).
    if (message.startsWith('Failed to send messages: ') && TRANSIENT_ANSWERS.has(message.slice('Failed to send messages: '.length))) return;
    const name = level <= logLevel.ERROR ? 'error' : 'warn';
    console.error(`${name.padEnd(5)} ${clientId} kafkajs: ${message} ${JSON.stringify(fields)}`.trimEnd());
  };
}

/** How long a produce or admin call may go unanswered: bounds a client that waits on nothing (seen after a broker restart). */
export const CALL_TIMEOUT_MS = 30_000;
/** How long a consumer may take to leave its group before it is given up (its session then expires). */
export const LEAVE_GROUP_TIMEOUT_MS = 10_000;

/**
 * A kafkajs client whose calls are bounded in time; one that let a call go unanswered is replaced. The caller retries
 * (a copy the stale producer still delivers carries the same event ids, which readers skip).
 */
export function replaceable<C extends { connect(): Promise<void>; disconnect(): Promise<void> }>(create: () => C, timeoutMs: number) {
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

/** The clients of one bus, each counting its requests in `requests` by Kafka API name. */
export function createClients(kafka: Kafka, callTimeoutMs: number) {
  const requests: Record<string, number> = {};
  const counted = <C extends Producer | Admin | Consumer>(client: C): C => {
    // Producers, admin clients and consumers emit the same REQUEST event.
    (client as Producer).on((client as Producer).events.REQUEST, ({ payload }) => { requests[payload.apiName] = (requests[payload.apiName] ?? 0) + 1; });
    return client;
  };
  const producer = replaceable(() => counted(kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })), callTimeoutMs);
  const admin = replaceable(() => counted(kafka.admin()), callTimeoutMs);
  /** The consumers close() disconnects: those not disconnected yet. */
  const consumers = new Set<Consumer>();

  return {
    requests,
    producer,
    admin,
    transactionalProducer: (transactionalId: string) => counted(kafka.producer({
      transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: TRANSACTION_TIMEOUT_MS, createPartitioner: Partitioners.DefaultPartitioner,
    })),
    consumer(groupId: string, options: { sessionTimeout?: number; partitionAssigners?: PartitionAssigner[] }): Consumer {
      const consumer = counted(kafka.consumer({
        groupId,
        sessionTimeout: options.sessionTimeout ?? 10_000,
        heartbeatInterval: 1_000,
        rebalanceTimeout: 10_000,
        // The idle polling rate (new data answers a fetch at once): at 100 ms an idle `npm start` kept 0.4 of a core busy.
        maxWaitTimeInMs: 500,
        retry: KAFKA_RETRY,
        ...(options.partitionAssigners && { partitionAssigners: options.partitionAssigners }),
      }));
      consumers.add(consumer);
      // kafkajs disconnects a crashed consumer too, before it restarts it: that one is still to be closed.
      consumer.on(consumer.events.DISCONNECT, () => consumers.delete(consumer));
      consumer.on(consumer.events.CRASH, ({ payload }) => { if (payload.restart) consumers.add(consumer); });
      return consumer;
    },
    async close() {
      // Bounded: a member given up by runConsumer may never finish leaving.
      await Promise.allSettled([...consumers].map((c) => withinTime(LEAVE_GROUP_TIMEOUT_MS, 'disconnecting a consumer', c.disconnect())));
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    },
  };
}
