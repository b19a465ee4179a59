/**
 * Health that tells the truth, against the whole system on real Kafka and PostgreSQL: `/readyz` follows the
 * consumer groups (a stopped service makes it 503 naming the service, its return makes it 200 again), extra
 * readiness checks plug in, and `/metrics` shows lag, latency and restarts in Prometheus format.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

let system: TestSystem;
/** Samples every 100 ms and calls 1 s without progress a stall, so readiness follows within seconds. */
let gateway: RunningGateway;
let extraReason: string | undefined;

beforeAll(async () => {
  system = await startSystem();
  gateway = await startGateway({
    port: 0,
    host: '127.0.0.1',
    health: { sampleMs: 100, stallAfterMs: 1_000, readinessChecks: [async () => extraReason] },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await system?.stop();
});

const endpoint = (path: string) => gateway.url.replace('/graphql', path);

async function readiness(): Promise<{ status: number; body: any }> {
  const response = await fetch(endpoint('/readyz'));
  return { status: response.status, body: await response.json() };
}

async function metrics(): Promise<string> {
  const response = await fetch(endpoint('/metrics'));
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
}

async function placeOrder() {
  const id = `order-${randomUUID()}`;
  const result = await system.gql(
    `mutation($id: ID!) { placeOrder(input: { id: $id, customerId: "c", product: "P", quantity: 1, price: 1 }) { id } }`,
    { id },
    gateway,
  );
  expect(result.errors).toBeUndefined();
  return id;
}

describe('readiness', () => {
  it('is ready when every consumer group has a live member and nothing waits', async () => {
    // Offsets are committed within a second of a message (consumer.ts), so a group may be a message behind for that
    // long: ready, and then every group at the end of its log, is what the system must reach.
    const caughtUp = (r: { status: number; body: { consumers?: { members: number; lag: number }[] } }) =>
      r.status === 200 && !!r.body.consumers?.every((c) => c.members >= 1 && c.lag === 0);
    let last: Awaited<ReturnType<typeof readiness>> | undefined;
    await waitFor(async () => caughtUp((last = await readiness())), 20_000, () => JSON.stringify(last));
    const { body } = last!;
    expect(body).toMatchObject({ status: 'ready', kafka: 'ok', postgres: 'ok' });
    expect(body.consumers.map((c: { name: string }) => c.name).sort()).toEqual(
      [
        'dispatch', 'driver-positions-projector', 'fraud', 'inventory', 'inventory-projector', 'order-details', 'orders', 'orders-event-index', 'orders-projector',
        'ratings', 'ratings-event-index', 'ratings-projector', 'rides-event-index', 'rides-projector',
      ],
    );
    expect(body.consumers.every((c: { members: number; lag: number }) => c.members >= 1 && c.lag === 0)).toBe(true);
  });

  it('answers 503 naming a stopped service while its input waits, and 200 once it is back', async () => {
    await system.stopService('fraud');
    try {
      await placeOrder(); // the fraud check is now owed one event
      let last: any;
      await waitFor(
        async () => {
          last = await readiness();
          return last.status === 503 && last.body.reasons.some((r: string) => /^fraud is dead: .* to read on orders\.events/.test(r));
        },
        20_000,
        () => JSON.stringify(last),
      );
      const reason = last.body.reasons.find((r: string) => r.startsWith('fraud is dead'));
      // One OrderCreated and the marker of the transaction that wrote it: lag counts offsets.
      expect(reason).toMatch(/no live member .*, 2 offsets to read on orders\.events\/\d+: start the fraud service/);
      expect(last.body.status).toBe('not ready');
    } finally {
      await system.startService('fraud');
    }
    let last: unknown;
    await waitFor(async () => ((last = await readiness()) as { status: number }).status === 200, 20_000, () => JSON.stringify(last));
    // The returning fraud consumer is a new member of its group: a restart.
    expect(await metrics()).toMatch(/^consumer_group_restarts_total\{group="fraud"\} [1-9]/m);
  });

  it('answers 503 naming a projector that stays behind without progress, and 200 once it moves again', async () => {
    // A lock on the orders table holds the projector inside its transaction: alive, but not moving.
    let release = () => {};
    const held = new Promise<void>((resolve) => { release = resolve; });
    let locked = () => {};
    const isLocked = new Promise<void>((resolve) => { locked = resolve; });
    const lock = system.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`LOCK TABLE orders IN SHARE MODE`;
      locked();
      await held;
    }, { timeout: 60_000 });
    let placing: Promise<unknown> | undefined;
    try {
      await isLocked;
      placing = placeOrder(); // resolves once projected, after the lock is released
      let last: any;
      await waitFor(
        async () => (last = await readiness()).body.reasons?.some((r: string) => r.startsWith('orders-projector is stalled')),
        20_000,
        () => JSON.stringify(last),
      );
      expect(last.status).toBe(503);
      expect(last.body.reasons.find((r: string) => r.startsWith('orders-projector is stalled'))).toMatch(
        /^orders-projector is stalled on (orders\.events|order\.validations)\/\d+ at offset \d+ for \d+ s \(\d+ offsets? to read\): see the orders service's log$/,
      );
    } finally {
      release();
      await lock;
      await placing;
    }
    await waitFor(async () => (await readiness()).status === 200, 20_000, () => 'readiness to come back');
  });

  it('includes the reasons of extra readiness checks', async () => {
    extraReason = 'the projections were built from another Kafka log';
    try {
      let last: any;
      await waitFor(async () => (last = await readiness()).body.reasons?.includes(extraReason), 20_000, () => JSON.stringify(last));
      expect(last.status).toBe(503);
    } finally {
      extraReason = undefined;
    }
    await waitFor(async () => (await readiness()).status === 200, 20_000, () => 'readiness to come back');
  });

  it('is not ready while a projection was built from another Kafka log, naming the remedy', async () => {
    // Settled first: a verdict projected after the change below would write this log's cluster id back.
    const id = await placeOrder();
    const settled = await system.gql(`query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { state } }`, { id }, gateway);
    expect(settled.data.awaitOrder.state).not.toBe('CREATED');
    const projector = system.isolation.prefix + 'orders-projector';
    await waitFor(async () => (await system.prisma.projectionOffset.count({ where: { projector } })) > 0, 20_000, () => 'an orders offset');
    const [row] = await system.prisma.projectionOffset.findMany({ where: { projector }, take: 1 });
    const key = { projector_topic_partition: { projector, topic: row.topic, partition: row.partition } };
    await system.prisma.projectionOffset.update({ where: key, data: { clusterId: 'some-other-cluster' } });
    try {
      let last: any;
      // Another reason may come first (a projector briefly behind is a stall at this test's 1 s): wait for this one.
      const remedy = /another Kafka log \(cluster some-other-cluster\).*--rebuild-projections/;
      await waitFor(async () => (last = await readiness()).body.reasons?.some((r: string) => remedy.test(r)), 20_000, () => JSON.stringify(last));
      expect(last.status).toBe(503);
    } finally {
      await system.prisma.projectionOffset.update({ where: key, data: { clusterId: row.clusterId } });
    }
    await waitFor(async () => (await readiness()).status === 200, 20_000, () => 'readiness to come back');
  });

  it('keeps /healthz a liveness check: 200 while Kafka and PostgreSQL answer', async () => {
    const response = await fetch(endpoint('/healthz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', kafka: 'ok', postgres: 'ok' });
  });
});

describe('metrics', () => {
  it('shows consumer and projector lag, dead letters, command latency and process metrics', async () => {
    await placeOrder();
    const text = await metrics();
    expect(text).toMatch(/^consumer_group_lag\{group="fraud",topic="orders\.events",partition="0"\} \d+$/m);
    expect(text).toMatch(/^projector_lag\{projector="orders-projector",topic="orders\.events",partition="0"\} \d+$/m);
    expect(text).toMatch(/^dead_letters 0$/m);
    expect(text).toMatch(/^command_duration_seconds_count\{type="PlaceOrder",outcome="accepted"\} [1-9]\d*$/m);
    expect(text).toMatch(/^command_duration_seconds_bucket\{le="\+Inf",type="PlaceOrder",outcome="accepted"\} [1-9]/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });
});
