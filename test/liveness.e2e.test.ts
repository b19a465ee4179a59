/**
 * Readiness follows the processes' own heartbeats, not the consumer groups' session timeout: the services run as
 * one real process (`services/main.ts all`, as `npm start` runs them) beside an in-process gateway sampling at the
 * default HEALTH_SAMPLE_MS, on a broker of this file's own (it is stopped here; other files share theirs).
 * - SIGKILL of the services process: /readyz 503 within 3 s naming it; started again: 200 once orders complete.
 * - SIGKILL of one of two instances of the services process: 503 while its partitions have no live member, 200 once its group
 *   has handed them to the other instance (at the session timeout), without starting it again.
 * - Broker stopped: 503 within 3 s; started again: 200 once orders complete.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { dropDatabase, migrate } from '../infra/database.ts';
import { ensureKafka, type RunningKafka } from '../infra/kafka/broker.ts';
import { DOMAINS } from '../services/domains.ts';
import { freePortPair, ownTopics, tokenFor, waitFor } from './support/system.ts';

const root = resolve(import.meta.dirname, '..');
const WITHIN_MS = 3_000;

let kafka: RunningKafka | undefined;
let kafkaPort: number;
let databaseUrl: string;
let gateway: RunningGateway | undefined;
let services: { child: ChildProcess; lines: string[] } | undefined;
let token: string;
let topics: { drop(): Promise<void> } | undefined;

/** This file's own broker, even when KAFKA_BROKERS names a shared one: stopping that would disturb other files. */
async function startBroker(): Promise<RunningKafka> {
  const given = process.env.KAFKA_BROKERS;
  delete process.env.KAFKA_BROKERS;
  try {
    const running = await ensureKafka({ port: kafkaPort, log: () => {} });
    if (!running.started) throw new Error(`a broker already runs on port ${kafkaPort}: this test needs one of its own`);
    return running;
  } finally {
    if (given !== undefined) process.env.KAFKA_BROKERS = given;
  }
}

function startServices(which = 'all') {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'services/main.ts'), which], {
    cwd: root, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      lines.push(...chunk.split('\n').filter(Boolean));
      if (process.env.TEST_LOGS) process.stdout.write(chunk.replace(/^(?=.)/gm, `[${which} ${child.pid}] `));
    });
  }
  return { child, lines };
}

beforeAll(async () => {
  kafkaPort = await freePortPair();
  kafka = await startBroker();
  const id = randomUUID().slice(0, 8);
  const url = new URL(inject('databaseUrl'));
  url.pathname = `/gateway_test_liveness_${id}`;
  databaseUrl = url.toString();
  const env = {
    KAFKA_BROKERS: kafka.brokers.join(','),
    TOPIC_PREFIX: `test-${id}.`,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: process.env.TEST_LOGS ? 'info' : 'silent',
  };
  Object.assign(process.env, env); // for the gateway in this process, and the services process it spawns
  await migrate(databaseUrl);
  topics = await ownTopics(env.TOPIC_PREFIX, DOMAINS); // on this file's own broker (KAFKA_BROKERS above)
  token = await tokenFor('admin', ['admin']);
  services = startServices();
  // Default sampling (HEALTH_SAMPLE_MS, 2 s): the 3 s must not depend on sampling faster.
  gateway = await startGateway({ port: 0, host: '127.0.0.1' });
  await readyWithOrdersFlowing(90_000);
}, 180_000);

afterAll(async () => {
  await gateway?.stop();
  if (services && services.child.exitCode === null && services.child.signalCode === null) {
    const exited = new Promise((done) => services!.child.once('exit', done));
    services.child.kill('SIGTERM');
    await exited;
  }
  await topics?.drop().catch(() => {}); // the broker may be stopped by now: its topics go with it, the subjects not
  await kafka?.stop();
  rmSync(resolve(root, '.data/kafka', String(kafkaPort)), { recursive: true, force: true });
  if (databaseUrl) await dropDatabase(databaseUrl).catch(() => {});
}, 60_000);

async function readiness(): Promise<{ status: number; body: any }> {
  const response = await fetch(gateway!.url.replace('/graphql', '/readyz'));
  return { status: response.status, body: await response.json() };
}

async function metrics(): Promise<string> {
  return (await fetch(gateway!.url.replace('/graphql', '/metrics'))).text();
}

async function gql(query: string, variables: Record<string, unknown>) {
  const response = await fetch(gateway!.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: any; errors?: { message: string }[] };
}

/** Places an order and waits for its outcome: whether orders complete, whatever the verdict (no stock: FAILED). */
async function orderCompletes(): Promise<boolean> {
  const id = `order-${randomUUID()}`;
  const placed = await gql(`mutation($id: ID!) { placeOrder(input: { id: $id, customerId: "c", product: "P", quantity: 1, price: 1 }) { id } }`, { id });
  if (placed.errors) return false;
  const settled = await gql(`query($id: ID!) { awaitOrder(id: $id, timeoutMs: 10000) { state } }`, { id });
  return ['VALIDATED', 'FAILED'].includes(settled.data?.awaitOrder?.state);
}

/** Waits for /readyz 200, then checks an order completes: ready must mean the work flows. Answers ms until 200. */
async function readyWithOrdersFlowing(timeoutMs: number): Promise<number> {
  const from = Date.now();
  let last: unknown;
  await waitFor(async () => (last = await readiness()).status === 200, timeoutMs, () => `/readyz 200, last ${JSON.stringify(last)}`);
  const readyMs = Date.now() - from;
  expect(await orderCompletes()).toBe(true);
  return readyMs;
}

/** Polls /readyz until it answers 503 with a reason matching `reason`; answers the reasons and the ms it took from `since`. */
async function notReadyWithin(since: number, reason: RegExp) {
  let last: { status: number; body: any } | undefined;
  await waitFor(
    async () => (last = await readiness()).status === 503 && last.body.reasons.some((r: string) => reason.test(r)),
    since + WITHIN_MS - Date.now(),
    () => `/readyz 503 with a reason matching ${reason} within ${WITHIN_MS} ms, last ${JSON.stringify(last)}`,
  );
  return { reasons: last!.body.reasons as string[], ms: Date.now() - since };
}

it('answers 503 within 3 s of a SIGKILL of the services process, naming it, and 200 once orders complete after its restart', async () => {
  const pid = services!.child.pid!;
  const exited = new Promise((done) => services!.child.once('exit', done));
  const killed = Date.now();
  services!.child.kill('SIGKILL');
  const { reasons, ms } = await notReadyWithin(killed, new RegExp(`^process services \\(pid ${pid} on .+\\) has sent no heartbeat for`));
  console.log(`[liveness] SIGKILL of services (pid ${pid}): /readyz 503 after ${ms} ms: ${reasons.join(' | ')}`);
  await exited;
  const age = (await metrics()).match(new RegExp(`^process_heartbeat_age_seconds\\{process="services",instance="[^"]*:${pid}:[^"]*"\\} ([\\d.]+)$`, 'm'));
  expect(Number(age?.[1])).toBeGreaterThan(2.5);

  services = startServices();
  const readyMs = await readyWithOrdersFlowing(90_000);
  console.log(`[liveness] services started again: /readyz 200 after ${readyMs} ms, and an order completed`);
}, 150_000);

it('answers 503 while a SIGKILLed instance among two held partitions no live one holds, and 200 once its group moved them', async () => {
  // A second instance of the services process: its command handlers join the same group (one reader per process).
  const second = startServices('all');
  try {
    // Until the second instance holds some of the services' partitions, killing it would prove nothing; it has
    // started once its inventory projector runs too.
    await waitFor(
      () => second.lines.some((l) => /\+inventory\+.*: assigned partition\(s\): \d/.test(l)) && second.lines.some((l) => /inventory-projector: projecting/.test(l)),
      60_000,
      () => `a share of the services' partitions and the inventory projector running: ${second.lines.join('\n')}`,
    );
    await readyWithOrdersFlowing(60_000);
    const pid = second.child.pid!;
    const killed = Date.now();
    second.child.kill('SIGKILL');
    const { reasons, ms } = await notReadyWithin(killed, new RegExp(`^inventory has no live member for inventory\\.commands/[\\d,]+.*: process services \\(pid ${pid} on .+\\), silent for`));
    console.log(`[liveness] SIGKILL of one of two services instances (pid ${pid}): /readyz 503 after ${ms} ms: ${reasons.join(' | ')}`);
    const readyMs = await readyWithOrdersFlowing(60_000);
    console.log(`[liveness] its partitions moved to the other instance: /readyz 200 ${readyMs} ms later (${Date.now() - killed} ms after the kill), and an order completed`);
    expect(second.child.exitCode === null && second.child.signalCode === 'SIGKILL').toBe(true); // not started again
  } finally {
    if (second.child.exitCode === null && second.child.signalCode === null) second.child.kill('SIGKILL');
  }
}, 180_000);

it('answers 503 within 3 s of a broker stop, and 200 once orders complete after it is back', async () => {
  await readyWithOrdersFlowing(60_000);
  const stopped = Date.now();
  const stopping = kafka!.stop();
  // The gateway's own consumer tells, whatever the processes say (they could be gone too).
  const { reasons, ms } = await notReadyWithin(stopped, /^the gateway's own consumer (has had no answer from Kafka for|crashed)/);
  console.log(`[liveness] broker stop: /readyz 503 after ${ms} ms: ${reasons.join(' | ')}`);
  await stopping;
  console.log(`[liveness] the broker took ${Date.now() - stopped} ms to stop`);

  const starting = Date.now();
  kafka = await startBroker();
  const upMs = Date.now() - starting;
  const readyMs = await readyWithOrdersFlowing(120_000);
  console.log(`[liveness] broker started again (answering after ${upMs} ms): /readyz 200 ${readyMs} ms later, and an order completed`);
}, 240_000);
