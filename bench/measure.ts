/** The bench's measuring tools, shared by ./run.ts and ./rides.ts. */
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { resolve } from 'node:path';
import { build, type Histogram } from 'hdr-histogram-js';
import type { Viewer } from '../services/shared/graphql/index.ts';
import { toolToken } from '../gateway/auth.ts';

export const micros = () => Number(process.hrtime.bigint() / 1000n);
export const ms = (us: number) => (us / 1000).toFixed(2);
export const histogram = () => build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
export const percentiles = (h: Histogram) => ({
  p50: h.getValueAtPercentile(50) / 1000, p95: h.getValueAtPercentile(95) / 1000, p99: h.getValueAtPercentile(99) / 1000, count: h.totalCount,
});

/** The bench acts as an admin (GATEWAY_TOKEN, or one signed with this machine's secret): `Bearer <token>`. */
export const authorization = async () => `Bearer ${await toolToken()}`;
/** graphql-ws's connection_init payload with that token. */
export const connectionParams = async () => ({ authorization: await authorization() });

/**
 * Keep-alive connections for every request the bench sends. The load generator shares the cores with what it
 * measures, so it should take little of them: node:http costs a fraction of what fetch (undici) does per request.
 */
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/** POSTs a JSON body; resolves with the status and the answer's text (any status: the caller judges it). */
export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const payload = JSON.stringify(body);
  const send = target.protocol === 'https:' ? https.request : http.request;
  return new Promise((done, failed) => {
    const request = send(target, {
      method: 'POST',
      agent: agents[target.protocol as keyof typeof agents],
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers },
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => done({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', failed);
    });
    request.on('error', failed);
    request.end(payload);
  });
}

export async function graphql(url: string, query: string, variables?: Record<string, unknown>) {
  const { status, text } = await postJson(url, { query, variables }, { authorization: await authorization() });
  let body: { data?: any; errors?: unknown[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${url} answered ${status} with no JSON: ${text.slice(0, 200)}`);
  }
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** Runs `task` from `clients` concurrent loops for `seconds` (or `count` times per client); returns latencies and rate. */
export async function load(clients: number, task: () => Promise<void>, limit: { seconds?: number; perClient?: number }) {
  const h = histogram();
  const started = performance.now();
  const deadline = started + (limit.seconds ?? Infinity) * 1000;
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let i = 0; (limit.perClient === undefined || i < limit.perClient) && performance.now() < deadline; i += 1) {
      const t = micros();
      await task();
      h.recordValue(Math.max(1, micros() - t));
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return { ...percentiles(h), perSecond: h.totalCount / seconds };
}

/** The bench's viewer where it runs resolvers in its own process (no token there): an admin, for a day. */
export const BENCH_ADMIN: Viewer = { sub: 'bench', roles: ['admin'], expiresAt: new Date(Date.now() + 24 * 3600_000) };

/**
 * A bench server of this folder as its own process (arguments after the file), which prints `PORT <n>` once it
 * listens: resolves with that port, the process (its stdin is a pipe, for servers that take commands) and a stop.
 */
export async function childServer(file: string, args: string[] = []) {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, file), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((ok) => child.stdout!.on('data', (d: Buffer) => {
    const m = /PORT (\d+)/.exec(d.toString());
    if (m) ok(Number(m[1]));
  }));
  return { port, child, stop: () => child.kill() };
}
