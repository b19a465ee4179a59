/**
 * The bus on real Kafka: concurrent publishes share produce requests (the idempotent producer keeps one in flight,
 * so one request per caller would cap a gateway at one round trip per mutation), and every caller still learns
 * exactly where its own messages landed. A publish the broker never answers fails in bounded time, and the next
 * one goes out through a fresh producer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tallyContract, TOPICS } from './fixtures/tally/contract.ts';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { readTopic } from '../scripts/topic-reader.ts';
import { deafeningSockets } from './support/deaf-sockets.ts';
import { isolate, type Isolation } from './support/system.ts';

let isolation: Isolation;
let bus: Bus;
beforeAll(async () => {
  isolation = await isolate([tallyContract]);
  bus = await createBus({ clientId: 'bus-test' });
});
afterAll(async () => {
  await bus?.close();
  await isolation?.drop();
});

it('gathers concurrent publishes into few requests, and answers each caller with its own positions', async () => {
  const commands = Array.from({ length: 300 }, (_, i) =>
    tallyContract.command({ type: 'AddToTally', data: { tally: `P${i % 7}-${randomUUID().slice(0, 4)}`, amount: (i % 100) + 1 } }));
  const before = (bus.requestCounts().Produce ?? 0);
  const positions = await Promise.all(commands.map((c) => bus.publish([tallyContract.outgoing(c)])));
  const requests = (bus.requestCounts().Produce ?? 0) - before;
  expect(requests).toBeGreaterThan(0);
  expect(requests).toBeLessThan(commands.length / 5);

  // Each caller's position holds its own command.
  const log = await readTopic(bus, bus.topic(TOPICS.commands));
  const at = new Map(log.map((m) => [`${m.partition}:${m.offset}`, tallyContract.decode(m.value)]));
  commands.forEach((command, i) => {
    expect(positions[i]).toHaveLength(1);
    const [{ topic, partition, offset }] = positions[i];
    expect(topic).toBe(bus.topic(TOPICS.commands));
    expect(at.get(`${partition}:${offset}`)).toMatchObject({ commandId: command.commandId });
  });
});

it('fails a publish the broker never answers within its time bound, and publishes the next through a fresh producer', async () => {
  const sockets = deafeningSockets();
  const silent = await createBus({ clientId: 'bus-silent-test', socketFactory: sockets.socketFactory, callTimeoutMs: 1_500 });
  const command = () => tallyContract.command({ type: 'AddToTally', data: { tally: `SILENT-${randomUUID().slice(0, 4)}`, amount: 1 } });
  try {
    await silent.publish([tallyContract.outgoing(command())]); // partition counts known, producer connected
    sockets.deafen();

    // kafkajs alone would wait for its 30 s request timeout, then retry.
    const failure = await silent.publish([tallyContract.outgoing(command())]).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE', retriable: true, message: 'publishing 1 message(s) did not finish within 2 s' });

    const next = command();
    const [position] = await silent.publish([tallyContract.outgoing(next)]);
    expect(sockets.openedSince()).toBeGreaterThan(0); // the fresh producer's own connections
    const landed = (await readTopic(bus, position.topic)).find((m) => m.partition === position.partition && m.offset === position.offset);
    expect(tallyContract.decode(landed!.value)).toMatchObject({ commandId: next.commandId });
  } finally {
    sockets.restore();
    await silent.close();
  }
});
