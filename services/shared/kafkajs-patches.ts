/**
 * The fixes this runtime carries for kafkajs 2.2.4 (its last release), all in this one module, which bus.ts loads so
 * that every client of the process has them. Each names what it answers; each has a test that fails without it.
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
 */
import { createRequire } from 'node:module';

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
