/**
 * The write path's Kafka floor (`npm run bench`, bench/pipeline.ts) measures what it says: every order it counts
 * went through the whole flow, six messages over four hops, on the real broker.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kafkaPipelineFloor } from '../bench/pipeline.ts';
import { kafkaBrokers } from '../services/shared/config.ts';
import { isolate, type Isolation } from './support/system.ts';

let isolation: Isolation;
beforeAll(async () => { isolation = await isolate(); });
afterAll(async () => { await isolation?.drop(); });

it('carries each order through its six messages and reports its costs per order', async () => {
  const { floors, messagesPerOrder } = await kafkaPipelineFloor(
    { kafkaBrokers: kafkaBrokers().join(','), topicPrefix: isolation.prefix, databaseUrl: isolation.databaseUrl },
    [1, 4],
    { warmUpSeconds: 1, phaseSeconds: 2 },
  );
  expect(messagesPerOrder).toBe(6); // command, created, three verdicts, validated: none lost, none repeated
  for (const clients of [1, 4]) {
    const floor = floors[clients];
    expect(floor.count).toBeGreaterThan(10);
    expect(floor.p50).toBeGreaterThan(0);
    // Each order needs at least its six messages produced and its four hops fetched; requests share them under load.
    expect(floor.requests.Produce).toBeGreaterThan(0);
    expect(floor.requests.Fetch).toBeGreaterThan(0);
    expect(floor.cpu.parts.broker).toBeGreaterThan(0);
    expect(floor.cpu.parts['services side']).toBeGreaterThan(0);
  }
  expect(floors[1].requests.Produce).toBeGreaterThanOrEqual(4); // one order at a time: a request per hop at least
}, 60_000);
