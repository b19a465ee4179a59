/**
 * A fix for kafkajs 2.2.4 (its last release): every broker connection keeps a 1 ms timer loop running for as long
 * as it lives. After its first answer, a connection's request queue schedules a check for queued requests with a
 * negative delay even when nothing is queued, and the check schedules the next one
 * (https://github.com/tulios/kafkajs/issues/1556, #1704; the fix proposed in PR #1667 was never released). Each
 * process here holds a dozen connections or more (a consumer per group, a producer, an admin), so about 10,000 timer
 * callbacks a second ran in each of them, busy or idle.
 *
 * Here a check is scheduled only while a request is queued: a request waits in the queue only when the connection
 * has its most requests in flight (an answer checks the queue again) or while the broker asks the client to
 * throttle (the check is due when the throttle ends), and both keep the timer the original had for them.
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
