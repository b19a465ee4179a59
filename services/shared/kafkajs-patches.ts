/**
 * The fixes this runtime carries for kafkajs 2.2.4 (its last release), loaded by kafka-clients.ts so every client
 * of the process has them. Each has a test that fails without it.
 *
 * 1. The request queue's endless 1 ms timer loop (https://github.com/tulios/kafkajs/issues/1556, #1704; PR #1667
 *    never released): ~10,000 timer callbacks a second per process, busy or idle. Here a check is scheduled only
 *    while a request is queued, with the timer the original had for that (a slot freeing, or a throttle ending).
 *
 * 2. FindCoordinator before every AddPartitionsToTxn, AddOffsetsToTxn and EndTxn: three to four requests more per
 *    transaction, where the Java client keeps the coordinator (KAFKA-4818, KAFKA-9953). Here a transaction
 *    coordinator is kept for COORDINATOR_KEPT_MS. Group coordinators are looked up as before.
 *
 * 3. Heartbeats sent to a coordinator that is gone, until the retries run out and the consumer crashes
 *    (https://github.com/tulios/kafkajs/issues/939, #1011; seen on a 3-broker cluster: 19 s and more of a stopped
 *    group). Here a Heartbeat that cannot reach its broker fails as NOT_COORDINATOR_FOR_GROUP, so kafkajs finds the
 *    coordinator again and rejoins as the same member, keeping its partitions (as the Java consumer does).
 *
 * 4. AddOffsetsToTxn refused with CONCURRENT_TRANSACTIONS while the previous transaction's markers are written (or
 *    COORDINATOR_LOAD_IN_PROGRESS after a failover), which kafkajs does not retry
 *    (https://github.com/tulios/kafkajs/issues/430): each refusal cost the task a restore. Here it is sent again
 *    after a short backoff, as the Java client does.
 *
 * 5. A transaction's records sent twice. When one leader's produce fails fast, kafkajs retries the produce and resends
 *    to every leader that has not answered yet, although that request is still in flight (sendMessages.js); the
 *    resend goes out under the next sequence numbers, so the broker appends the records again in the same
 *    transaction (seen on a 3-broker cluster: the same verdicts twice, one producer, sequences 1-3 and 4-6). Here a
 *    transactional produce refuses records an earlier request already got appended: the transaction fails and is
 *    aborted, and its input is decided again through a new producer.
 *
 * 6. Records of an aborted transaction read as committed. kafkajs's filter (consumer/filterAbortedMessages.js) takes
 *    a fetch's aborted transactions for sorted by first offset, but the broker lists them in the order they were
 *    aborted, so a transaction aborted after one that began later is missed (seen after a SIGKILL: a forward aborted
 *    at offset 7 read beside its committed copy at 12). Here each fetched partition's aborted records are found as
 *    the Java consumer finds them and hidden as kafkajs hides control records.
 */
import { createRequire } from 'node:module';
import { retry } from './retry.ts';

/** As kafkajs has it: how often a queued request is looked at again while it waits for a slot. */
const CHECK_QUEUED_EVERY_MS = 10;

interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs's request queue class: the module every connection of every client in this process uses. */
export const KafkaRequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as {
  new (options: Record<string, unknown>): RequestQueue;
  prototype: RequestQueue;
};

KafkaRequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueue) {
  if (this.throttleCheckTimeoutId || !this.pending.length) return;
  const untilUnthrottled = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, untilUnthrottled > 0 ? untilUnthrottled : CHECK_QUEUED_EVERY_MS);
};

/** How long a transaction coordinator, once found, is used without asking again. */
export const COORDINATOR_KEPT_MS = 1_000;
/** FindCoordinator's coordinator type of a transactional id (0 is a consumer group's). */
const TRANSACTION_COORDINATOR = 1;

interface Cluster {
  findGroupCoordinator(request: { groupId: string; coordinatorType?: number }): Promise<unknown>;
}

/** kafkajs's cluster class: every client's view of the brokers. */
export const KafkaCluster = createRequire(import.meta.url)('kafkajs/src/cluster/index.js') as { prototype: Cluster };

const findGroupCoordinator = KafkaCluster.prototype.findGroupCoordinator;
const kept = new WeakMap<Cluster, Map<string, { broker: Promise<unknown>; until: number }>>();

KafkaCluster.prototype.findGroupCoordinator = function findCoordinatorKept(this: Cluster, request) {
  if (request.coordinatorType !== TRANSACTION_COORDINATOR) return findGroupCoordinator.call(this, request);
  const coordinators = kept.get(this) ?? new Map<string, { broker: Promise<unknown>; until: number }>();
  kept.set(this, coordinators);
  const known = coordinators.get(request.groupId);
  if (known && known.until > Date.now()) return known.broker;
  const broker = findGroupCoordinator.call(this, request);
  coordinators.set(request.groupId, { broker, until: Date.now() + COORDINATOR_KEPT_MS });
  broker.catch(() => { if (coordinators.get(request.groupId)?.broker === broker) coordinators.delete(request.groupId); }); // the next call asks again
  return broker;
};

/** FindCoordinator's and Heartbeat's error for a broker that is not (or no longer) the group's coordinator. */
const NOT_COORDINATOR = 16;

interface Broker {
  produce(request: ProduceRequest): Promise<unknown>;
  fetch(request: object): Promise<{ responses?: { partitions: FetchedPartition[] }[] }>;
  heartbeat(request: { groupId: string; memberId: string; groupGenerationId: number }): Promise<unknown>;
  addOffsetsToTxn(request: { transactionalId: string; producerId: number; producerEpoch: number; groupId: string }): Promise<unknown>;
}

/** kafkajs's broker class: every client's connection to one broker, and the requests it sends there. */
export const KafkaBroker = createRequire(import.meta.url)('kafkajs/src/broker/index.js') as { prototype: Broker };
const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { createErrorFromCode(code: number): Error };

const heartbeat = KafkaBroker.prototype.heartbeat;
KafkaBroker.prototype.heartbeat = async function heartbeatOrFindCoordinator(this: Broker, request) {
  try {
    return await heartbeat.call(this, request);
  } catch (error) {
    const { name } = error as { name?: string };
    if (name !== 'KafkaJSConnectionError' && name !== 'KafkaJSConnectionClosedError') throw error;
    throw createErrorFromCode(NOT_COORDINATOR);
  }
};

/** How long AddOffsetsToTxn is sent again while the coordinator answers that the previous transaction still ends. */
export const TRANSACTION_BUSY_RETRY_MS = 10_000;
/** What the coordinator answers while it cannot take the task's next transaction yet (kafkajs's names). */
const BUSY = new Set(['CONCURRENT_TRANSACTIONS', 'GROUP_LOAD_IN_PROGRESS']);

const addOffsetsToTxn = KafkaBroker.prototype.addOffsetsToTxn;
KafkaBroker.prototype.addOffsetsToTxn = function addOffsetsToTxnWhenFree(this: Broker, request) {
  // 20 ms first (the markers of a small transaction take about that), then up to the Java client's 100 ms.
  return retry(() => addOffsetsToTxn.call(this, request), {
    firstMs: 20,
    maxMs: 100,
    until: Date.now() + TRANSACTION_BUSY_RETRY_MS,
    retriable: (error) => BUSY.has((error as { type?: string }).type ?? ''),
  });
};

/** The message objects a transactional producer's produce requests got appended (kafkajs passes the caller's own). */
const appended = new WeakSet<object>();
const { KafkaJSNonRetriableError } = createRequire(import.meta.url)('kafkajs/src/errors.js') as { KafkaJSNonRetriableError: new (message: string) => Error };

/** What kafkajs hands a broker's produce: the records of each partition led by that broker. */
export interface ProduceRequest {
  transactionalId?: string;
  topicData: { topic: string; partitions: { partition: number; firstSequence?: number; messages: object[] }[] }[];
}

/** A broker's `produce` that never sends a transactional producer's records again once the broker appended them. */
export function appendingOnce<T>(produce: (this: T, request: ProduceRequest) => Promise<unknown>) {
  return async function produceOnce(this: T, request: ProduceRequest): Promise<unknown> {
    if (!request.transactionalId) return produce.call(this, request);
    const messages = request.topicData.flatMap(({ partitions }) => partitions.flatMap((p) => p.messages));
    if (messages.some((message) => appended.has(message))) {
      throw new KafkaJSNonRetriableError(
        `kafkajs retried a produce of ${request.transactionalId} that the broker had appended (sent again while in flight): refused, so that the transaction fails instead of committing its records twice`,
      );
    }
    const answer = await produce.call(this, request);
    for (const message of messages) appended.add(message);
    return answer;
  };
}

KafkaBroker.prototype.produce = appendingOnce(KafkaBroker.prototype.produce);

/** A partition of a fetch's answer, as kafkajs decodes it. */
export interface FetchedPartition {
  abortedTransactions?: { producerId: string; firstOffset: string }[] | null;
  messages: { offset: string; key?: Buffer | null; isControlRecord?: boolean; batchContext: { producerId: string; inTransaction: boolean } }[];
}

/** An abort marker's key: version 0, type 0 (a commit's is type 1). */
const ABORT_MARKER = Buffer.from([0, 0, 0, 0]);

/**
 * Hides a fetched partition's records of aborted transactions as the Java consumer finds them: every aborted
 * transaction that has begun at a record, in order of first offset, until its producer's abort marker.
 */
export function hideAborted(partition: FetchedPartition): void {
  if (!partition.abortedTransactions?.length) return;
  const pending = [...partition.abortedTransactions].sort((a, b) => (BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : 1));
  const aborted = new Set<string>();
  for (const message of partition.messages) {
    while (pending.length && BigInt(pending[0].firstOffset) <= BigInt(message.offset)) aborted.add(String(pending.shift()!.producerId));
    const producer = String(message.batchContext.producerId);
    if (message.isControlRecord) {
      if (message.key && ABORT_MARKER.equals(Buffer.from(message.key))) aborted.delete(producer);
    } else if (message.batchContext.inTransaction && aborted.has(producer)) {
      message.isControlRecord = true;
    }
  }
  partition.abortedTransactions = [];
}

const fetch = KafkaBroker.prototype.fetch;
KafkaBroker.prototype.fetch = async function fetchCommitted(this: Broker, request) {
  const answer = await fetch.call(this, request);
  for (const { partitions } of answer.responses ?? []) partitions.forEach(hideAborted);
  return answer;
};
