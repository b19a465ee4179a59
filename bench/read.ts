/**
 * The read path's fan-out figures (issue 10): graphql-ws subscribers of orderUpdated and of
 * topRatedMoviesChanged, spread over many operations and all on one, held by a child process
 * (./subscribers.ts). Reports the delay from the event to each subscriber's delivery (p50, p99, last) and the
 * gateway's resident memory per 1,000 subscribers (its /metrics, before and after they subscribed).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { childServer, graphql } from './measure.ts';
import type { BenchSystem } from './system.ts';
import { cpuBetween, processCpuSeconds } from './usage.ts';

export interface FanOut {
  subscribers: number;
  /** Distinct operations (watched order ids, leaderboard sizes) the subscribers are spread over. */
  operations: number;
  delivered: number;
  missing: number;
  /** The first subscriber's delay: what is not fan-out (Kafka, projection, the feed). */
  firstMs: number;
  p50: number;
  p99: number;
  lastMs: number;
  /**
   * CPU seconds spent from the trigger until every delivery arrived, by who spent it: the gateway, the
   * subscribers' process, and the rest of the system (services, broker, PostgreSQL). It says how the two
   * cores were shared.
   */
  cpuSeconds: { gateway: number; subscribers: number; rest: number };
  /** The gateway's RSS with the subscribers connected. */
  rssMiB: number;
  /** Its growth over the RSS before they connected, per 1,000 (negative when a GC freed more meanwhile). */
  rssPerThousandMiB: number;
}

const WATCH = `subscription($id: ID!) { orderUpdated(id: $id) { id state validations { checkType result } updatedAt } }`;
const LEADERBOARD = `subscription($limit: Int) { topRatedMoviesChanged(limit: $limit) { id title rating { count average } } }`;
const SUBSCRIBED_TIMEOUT_MS = 300_000;

async function gatewayMetric(system: BenchSystem, name: string): Promise<number> {
  const text = await (await fetch(system.url.replace(/\/graphql$/, '/metrics'))).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * Starts the subscribers' process on `wsUrl`; resolves once every one has subscribed, and, given the gateway,
 * once it runs every one of their subscriptions.
 */
async function startSubscribers(wsUrl: string, query: string, variables: Record<string, unknown>[], system?: BenchSystem) {
  const running = system ? await gatewayMetric(system, 'subscriptions_active') : 0;
  // In a file: 10,000 subscribers' variables do not fit in a command line (E2BIG).
  const config = join(mkdtempSync(join(tmpdir(), 'bench-subscribers-')), 'config.json');
  writeFileSync(config, JSON.stringify({ wsUrl, query, variables }));
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'subscribers.ts'), config], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const line = await lines.next();
    if (line.done) throw new Error('the subscribers process ended early');
    return line.value;
  };
  const deadline = Date.now() + SUBSCRIBED_TIMEOUT_MS;
  const connecting = setTimeout(() => child.kill(), SUBSCRIBED_TIMEOUT_MS); // ends the wait below with an error
  while ((await nextLine()) !== 'READY');
  clearTimeout(connecting);
  while (system && await gatewayMetric(system, 'subscriptions_active') < running + variables.length) {
    if (Date.now() > deadline) throw new Error(`the gateway did not run ${variables.length} more subscriptions within ${SUBSCRIBED_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    async report(command: string) {
      child.stdin!.write(`${command}\n`);
      let line = await nextLine();
      while (!line.startsWith('RESULT ')) line = await nextLine();
      return JSON.parse(line.slice('RESULT '.length)) as { delivered: number; missing: number; first: number; p50: number; p99: number; max: number };
    },
    /** Ends the subscribers, and waits until the gateway has let go of their subscriptions. */
    async stop() {
      const exited = once(child, 'exit');
      child.kill();
      await exited;
      const until = Date.now() + SUBSCRIBED_TIMEOUT_MS;
      while (system && await gatewayMetric(system, 'subscriptions_active') > running && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    },
  };
}

async function measured(system: BenchSystem, query: string, variables: Record<string, unknown>[], operations: number, trigger: () => Promise<string>): Promise<FanOut> {
  const rssBefore = await gatewayMetric(system, 'process_resident_memory_bytes');
  const subscribers = await startSubscribers(system.wsUrl, query, variables, system);
  try {
    const rssAfter = await gatewayMetric(system, 'process_resident_memory_bytes');
    const before = { system: (await system.usage()).cpu, subscribers: processCpuSeconds(subscribers.pid) };
    const result = await subscribers.report(await trigger());
    const spent = cpuBetween(before.system, (await system.usage()).cpu);
    const gateway = spent.get('gateway') ?? 0;
    return {
      subscribers: variables.length, operations, delivered: result.delivered, missing: result.missing,
      firstMs: result.first, p50: result.p50, p99: result.p99, lastMs: result.max,
      cpuSeconds: {
        gateway,
        subscribers: processCpuSeconds(subscribers.pid) - before.subscribers,
        rest: [...spent.values()].reduce((a, b) => a + b, 0) - gateway,
      },
      rssMiB: rssAfter / 2 ** 20,
      rssPerThousandMiB: (rssAfter - rssBefore) / 2 ** 20 / (variables.length / 1000),
    };
  } finally {
    await subscribers.stop();
  }
}

/** `subscribers` watchers of `orders` orders (round robin); all orders placed at once; delay to the terminal state. */
export async function ordersFanOut(system: BenchSystem, product: string, subscribers: number, orders: number): Promise<FanOut> {
  const ids = Array.from({ length: orders }, () => `bench-fanout-${randomUUID()}`);
  const variables = Array.from({ length: subscribers }, (_, i) => ({ id: ids[i % orders] }));
  return measured(system, WATCH, variables, orders, async () => {
    const place = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
    await Promise.all(ids.map((id) => graphql(system.url, place, { input: { id, customerId: `bench-${randomUUID()}`, product, quantity: 1, price: 1 } })));
    return 'REPORT terminal';
  });
}

/**
 * `subscribers` leaderboards spread over `sizes` limits (1…sizes); the current leader is rated 0, which changes
 * every board; delay from sending that rating to each board's arrival.
 */
export async function leaderboardFanOut(system: BenchSystem, subscribers: number, sizes: number): Promise<FanOut> {
  const variables = Array.from({ length: subscribers }, (_, i) => ({ limit: (i % sizes) + 1 }));
  return measured(system, LEADERBOARD, variables, sizes, async () => {
    const [leader] = (await graphql(system.url, `{ topRatedMovies(limit: 1) { id } }`)).topRatedMovies;
    if (!leader) throw new Error('no movie is rated yet: the leaderboard bench needs the ratings section first');
    const since = Date.now();
    await graphql(system.url, `mutation($id: ID!) { rateMovie(movieId: $id, rating: 0) { id } }`, { id: leader.id });
    return `REPORT since ${since}`;
  });
}

/**
 * The fan-out floor: the same subscribers' process on a bare `ws` server (./bare-ws-server.ts) that writes
 * `updates` frames to each, round after round; the delay from the first round to each one's last frame.
 */
export async function fanOutFloor(subscribers: number, updates: number): Promise<{ p50: number; p99: number; lastMs: number }> {
  const server = await childServer('bare-ws-server.ts');
  const variables = Array.from({ length: subscribers }, () => ({ id: 'floor' }));
  const clients = await startSubscribers(`ws://127.0.0.1:${server.port}`, WATCH, variables);
  try {
    server.child.stdin!.write(`SEND ${updates} ${subscribers}\n`);
    const result = await clients.report('REPORT terminal');
    return { p50: result.p50, p99: result.p99, lastMs: result.max };
  } finally {
    await clients.stop();
    server.stop();
  }
}
