/**
 * The kafkajs request queue fix (services/shared/kafka-request-queue.ts) reaches the clients the bus makes: a real
 * admin client's connection checks its queue through the patched class, and stops once it has nothing to send.
 */
import { expect, it, vi } from 'vitest';
import { createKafka } from '../services/shared/bus.ts';
import { KafkaRequestQueue } from '../services/shared/kafka-request-queue.ts';

it('a client made by the bus checks its request queue only while it has requests, not every millisecond', async () => {
  const checks = vi.spyOn(KafkaRequestQueue.prototype, 'checkPendingRequests');
  const admin = createKafka('request-queue-test').admin();
  try {
    await admin.connect();
    await admin.listTopics();
    // The answers above went through this very class: the fix is on the queue kafkajs uses.
    expect(checks.mock.calls.length).toBeGreaterThan(0);
    checks.mockClear();
    await new Promise((r) => setTimeout(r, 300));
    // Idle: kafkajs 2.2.4 unpatched checks about 900 times a second per connection.
    expect(checks.mock.calls.length).toBeLessThan(5);
  } finally {
    checks.mockRestore();
    await admin.disconnect();
  }
});
