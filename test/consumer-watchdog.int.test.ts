/**
 * A group member that goes silent (neither fetching nor heartbeating, nor crashing, as kafkajs once did after a
 * broker restart) is replaced by a fresh member, which goes on consuming: the process does not look alive while
 * consuming nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { runConsumer } from '../services/shared/consumer.ts';
import type { Logger } from '../services/shared/log.ts';
import { RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { deafeningSockets } from './support/deaf-sockets.ts';
import { isolate, type Isolation } from './support/system.ts';

let isolation: Isolation;
let bus: Bus;
beforeAll(async () => {
  isolation = await isolate();
  bus = await createBus({ clientId: 'watchdog-test' });
});
afterAll(async () => {
  await bus?.close();
  await isolation?.drop();
});

it('replaces a member that has gone silent, and the new member consumes what comes next', async () => {
  // The consumer's own sockets, made deaf: its requests reach the broker, no answer comes back.
  const sockets = deafeningSockets();
  const consumerBus = await createBus({ clientId: 'watchdog-member', socketFactory: sockets.socketFactory });
  const errors: string[] = [];
  const log: Logger = { info: () => {}, warn: () => {}, error: (message) => errors.push(message) };
  const seen: string[] = [];
  const topic = RUNTIME_TOPICS.commandReplies;
  const publish = (commandId: string) => bus.publishReplies([{ commandId, status: 'ACCEPTED', positions: [] }]);

  const consumer = await runConsumer(consumerBus, {
    group: `watchdog-${randomUUID().slice(0, 8)}`,
    topics: [topic],
    fromBeginning: true,
    silentMemberMs: 2_000,
    run: () => ({ eachMessage: async ({ message }) => void seen.push(String(message.key)) }),
  }, log);
  try {
    await publish('before');
    await expect.poll(() => seen, { timeout: 30_000 }).toContain('before');

    sockets.deafen();
    await expect.poll(() => errors.find((e) => e.includes('has neither fetched nor heard from its group')), { timeout: 30_000, interval: 200 }).toBeTruthy();
    await publish('after');
    // The silent member leaves by session timeout; its replacement joins on its own connections and reads on.
    await expect.poll(() => seen, { timeout: 60_000, interval: 200 }).toContain('after');
    expect(sockets.openedSince()).toBeGreaterThan(0); // the new member's own connections
  } finally {
    sockets.restore();
    await consumer.stop();
    await consumerBus.close();
  }
}, 120_000);

it('stops, committing what it can, even when the broker no longer answers its member', async () => {
  const sockets = deafeningSockets();
  const consumerBus = await createBus({ clientId: 'watchdog-stop', socketFactory: sockets.socketFactory });
  const warnings: string[] = [];
  const log: Logger = { info: () => {}, warn: (message) => warnings.push(message), error: (message) => warnings.push(message) };
  const seen: string[] = [];
  const commandId = `stop-${randomUUID()}`;
  const consumer = await runConsumer(consumerBus, {
    group: `watchdog-stop-${randomUUID().slice(0, 8)}`,
    topics: [RUNTIME_TOPICS.commandReplies],
    fromBeginning: true,
    run: () => ({ eachMessage: async ({ message }) => void seen.push(String(message.key)) }),
  }, log);
  try {
    await bus.publishReplies([{ commandId, status: 'ACCEPTED', positions: [] }]);
    await expect.poll(() => seen, { timeout: 30_000 }).toContain(commandId);
    sockets.deafen(); // the commit of that message, and leaving the group, now get no answer
    const started = Date.now();
    await consumer.stop();
    // Bounded by the consumer's own waits (10 s to commit, 10 s to leave), not kafkajs's retries (minutes).
    expect(Date.now() - started).toBeLessThan(30_000);
  } finally {
    sockets.restore();
    await consumerBus.close();
  }
}, 60_000);
