/**
 * The fixes this runtime carries for kafkajs 2.2.4 (its last release), all in this one module, which
 * kafka-clients.ts loads so that every client of the process has them. Each names what it answers; each has a test
 * that fails without it.
 *
 * 1. The request queue's endless timer loop. Every broker connection keeps a 1 ms timer loop running for as long
 *    as it lives: after its first answer, a connection's request queue schedules a check for queued requests with a
 *    negative delay even when nothing is queued, and the check schedules the next one
 *    (https://github.com/tulios/kafkajs/issues/1556, #1704; the fix proposed in PR #1667 was never released). Each
 *    process here holds a dozen connections or more, so about 10,000 timer callbacks a second ran in each of them,
 *    busy or idle. Here a check is scheduled only while a request is queued: a request waits in the queue only when
 *    the connection has its most requests in flight (an answer checks the queue again) or while the broker asks the
 *    client to throttle (the check is due when the throttle ends), and both keep the timer the original had for them.
 *
 * 2. A transaction coordinator looked up again for every step of every transaction. kafkajs's transactional producer
 *    sends FindCoordinator before each AddPartitionsToTxn, AddOffsetsToTxn and EndTxn (eosManager's
 *    findTransactionCoordinator, uncached), where the Java client keeps the coordinator until it answers
 *    NOT_COORDINATOR (KAFKA-4818, KAFKA-9953): three to four requests more per transaction. Here a transaction
 *    coordinator, once found, is kept for COORDINATOR_KEPT_MS; a moved one costs kafkajs's retries at most that
 *    long. Group coordinators (consumers') are looked up as before.
 *
 * 3. A group member that heartbeats a coordinator that is gone. kafkajs sends every Heartbeat to the coordinator its
 *    last join found, and when that broker cannot be reached (killed, its host gone) it sends it there again until
 *    its retries run out and the consumer crashes (https://github.com/tulios/kafkajs/issues/939, #1011): with a
 *    member's handlers heartbeating too, that is a whole retry budget of a group stopped after the coordinator moved
 *    to another broker (seen on a 3-broker cluster: a group whose coordinator was SIGKILLed heartbeated the dead
 *    broker for 19 s and more, while every order waited for its verdict). The Java consumer takes a disconnected
 *    coordinator as unknown and looks it up again. Here a Heartbeat that cannot reach its broker fails as
 *    NOT_COORDINATOR_FOR_GROUP, which kafkajs takes as a rebalance: it finds the coordinator again (the new one once
 *    the cluster elected it) and joins it as the same member, keeping its partitions.
 *
 * 4. AddOffsetsToTxn refused while the previous transaction still ends. EndTxn is answered once the coordinator has
 *    decided; it writes the markers afterwards, and until they are written it answers the task's next transaction
 *    CONCURRENT_TRANSACTIONS (and COORDINATOR_LOAD_IN_PROGRESS while a new coordinator loads, after a failover).
 *    kafkajs retries both for AddPartitionsToTxn (its produce retries) but not for AddOffsetsToTxn, whose error fails
 *    the whole transaction (https://github.com/tulios/kafkajs/issues/430), where the Java client sends it again
 *    after a short backoff. Here it is sent again too. A transaction that commits only offsets (a fetch of
 *    transaction markers, an input that decides nothing) starts with it, right after the previous commit, so it was
 *    refused often, and every refusal cost the task a restore of its state from the log; after a broker failover,
 *    while markers wait for new leaders, over and over.
 *
 * 5. A transaction's records sent twice. kafkajs sends a produce to each leader at once; when one of them fails fast
 *    (AddPartitionsToTxn answered CONCURRENT_TRANSACTIONS, a connection refused) it retries the produce while the
 *    request to another leader is still in flight, and resends to every leader that has not answered yet
 *    (sendMessages.js: `responsePerBroker` still null). That resend waits for the first request's broker lock and
 *    goes out after the broker appended the first, under the next sequence numbers: the broker appends the same
 *    records again, in the same transaction, which commits both copies (seen on a 3-broker cluster: the same
 *    verdicts twice in a row, one decision, one producer id and epoch, sequences 1-3 and 4-6). Here a transactional
 *    producer's produce refuses records that an earlier produce request already got appended (kafkajs hands the
 *    caller's message objects to each attempt): the error is not retriable, so the transaction fails and is
 *    aborted, and its input is decided again through a new producer, where before it committed the records twice.
 *
 * 6. Records of an aborted transaction read as committed. A read_committed fetch answers, per partition, the aborted
 *    transactions it overlaps (producer id, first offset) in the order of the partition's transaction index, the
 *    order they were aborted in; kafkajs's filter (consumer/filterAbortedMessages.js) takes them for sorted by first
 *    offset and takes at most one per record, so a transaction aborted after another that began later, or a second
 *    one begun before the fetched offset, is not seen as aborted and its records are handed over. The Java consumer
 *    sorts them by first offset and takes every one that has begun. Seen on a 3-broker cluster after a SIGKILL: two
 *    task producers' transactions open on inventory.repartition/3 (from offsets 7 and 8) were aborted by the new
 *    instance's fences 8 first, then 7, and the aborted forward at 7 was read, and counted, beside its committed copy
 *    at 12. Here each fetched partition's aborted records are found as the Java consumer finds them and hidden as
 *    kafkajs hides control records (kept for the batch's offsets, never handed to a handler).
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
