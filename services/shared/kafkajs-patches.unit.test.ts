import { afterEach, expect, it, vi } from 'vitest';
import { KafkaRequestQueue } from './kafkajs-patches.ts';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const queues: InstanceType<typeof KafkaRequestQueue>[] = [];
afterEach(() => {
  for (const queue of queues.splice(0)) (queue as unknown as { destroy(): void }).destroy();
});

/** A connection's request queue, and what it has put on the wire so far (correlation ids). */
function connection(maxInFlightRequests: number) {
  const queue = new KafkaRequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'b:9092', logger: quiet });
  queues.push(queue);
  const sent: number[] = [];
  const q = queue as unknown as {
    push(request: unknown): void;
    fulfillRequest(answer: { correlationId: number; payload: Buffer; size: number }): void;
    maybeThrottle(ms: number): void;
  };
  const request = (correlationId: number) => new Promise((resolve, reject) => q.push({
    entry: { correlationId, apiKey: 1, apiName: 'Fetch', apiVersion: 11, resolve, reject },
    expectResponse: true,
    sendRequest: () => sent.push(correlationId),
  }));
  const answer = (correlationId: number) => q.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 });
  return { queue, q, sent, request, answer };
}

it('leaves no timer running once every request is answered and nothing waits (kafkajs 2.2.4 kept a 1 ms loop)', async () => {
  const { queue, request, answer } = connection(1);
  const checks = vi.spyOn(queue, 'checkPendingRequests');
  const answered = request(1);
  answer(1);
  await answered;
  await new Promise((r) => setTimeout(r, 50));
  // One check, the one the answer makes itself; the unfixed queue checked again every millisecond.
  expect(checks.mock.calls.length).toBe(1);
  expect(queue.throttleCheckTimeoutId).toBeNull();
});

it('sends a request that waited for an in-flight slot as soon as the slot frees', async () => {
  const { sent, request, answer } = connection(1);
  const first = request(1);
  const second = request(2);
  expect(sent).toEqual([1]);
  answer(1);
  await first;
  expect(sent).toEqual([1, 2]);
  answer(2);
  await second;
});

it('sends a request held by the broker\'s throttling once the throttle ends', async () => {
  const { q, sent, request, answer } = connection(10);
  q.maybeThrottle(40);
  const held = request(1);
  expect(sent).toEqual([]);
  await vi.waitFor(() => expect(sent).toEqual([1]), { timeout: 1_000, interval: 5 });
  answer(1);
  await held;
});
