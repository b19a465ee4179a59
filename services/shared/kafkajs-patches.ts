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
