/**
 * The subscriber side of the fan-out bench, as its own process so that it never shares an event loop with the
 * gateway it measures (the two still share the machine's cores). Run by bench/read.ts with one JSON argument:
 * `{ wsUrl, query, variables: [...] }`, one subscriber (one socket speaking graphql-transport-ws) per entry of `variables`.
 *
 * Talks over stdio: prints `READY` once every client is acknowledged and has sent its subscribe; on the line
 * `REPORT terminal` or `REPORT since <epoch ms>` it waits for every subscriber's delivery and prints
 * `RESULT <json>`: per subscriber, the delay from the order's terminal event (its `updatedAt`) to the arrival
 * of that state, or from `since` to the first arrival after it.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { connectionParams } from './measure.ts';

interface Config { wsUrl: string; query: string; variables: Record<string, unknown>[] }
const config = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Config; // written by ./read.ts
// Sockets opened at a time; a client whose connection is refused or times out (a busy gateway) retries.
const OPEN_AT_ONCE = 100;
const RETRIES = 10;
const REPORT_TIMEOUT_MS = 120_000;

/** Per subscriber: every arrival time, and the delay of a terminal order state once one arrived. */
const arrivals: number[][] = config.variables.map(() => []);
const terminal: (number | undefined)[] = config.variables.map(() => undefined);
const sockets: WebSocket[] = [];
let errors = 0;
const init = JSON.stringify({ type: 'connection_init', payload: await connectionParams() });

/**
 * One subscriber: the graphql-transport-ws protocol spoken directly over `ws` (init, subscribe, next, ping),
 * without graphql-ws's client, so that this process, which shares the cores with the gateway it measures,
 * spends as little as it can per message. Resolves once the subscription is sent.
 */
function subscriber(i: number, attempt = 0): Promise<void> {
  return new Promise((subscribed) => {
    const socket = new WebSocket(config.wsUrl, 'graphql-transport-ws');
    let acknowledged = false;
    const retry = () => {
      if (acknowledged) return;
      if (attempt >= RETRIES) {
        errors += 1;
        return subscribed();
      }
      setTimeout(() => subscriber(i, attempt + 1).then(subscribed), 200);
    };
    socket.on('error', () => socket.terminate());
    socket.on('close', retry);
    socket.on('open', () => socket.send(init));
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { type: string; payload?: { data?: { orderUpdated?: { state: string; updatedAt: string } } } };
      if (message.type === 'next') {
        const now = Date.now();
        arrivals[i].push(now);
        const order = message.payload?.data?.orderUpdated;
        if (order && order.state !== 'CREATED' && terminal[i] === undefined) terminal[i] = now - Date.parse(order.updatedAt);
      } else if (message.type === 'connection_ack') {
        acknowledged = true;
        sockets.push(socket);
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: config.query, variables: config.variables[i] } }));
        subscribed();
      } else if (message.type === 'ping') {
        socket.send('{"type":"pong"}');
      } else if (message.type === 'error') {
        errors += 1;
      }
    });
  });
}

for (let start = 0; start < config.variables.length; start += OPEN_AT_ONCE) {
  await Promise.all(config.variables.slice(start, start + OPEN_AT_ONCE).map((_, offset) => subscriber(start + offset)));
}
console.log('READY');

for await (const line of createInterface({ input: process.stdin })) {
  const [command, mode, since] = line.split(' ');
  if (command !== 'REPORT') continue;
  const delayOf = (i: number) => mode === 'terminal' ? terminal[i] : arrivals[i].find((t) => t >= Number(since))! - Number(since);
  const deadline = Date.now() + REPORT_TIMEOUT_MS;
  while (Date.now() < deadline && arrivals.some((_, i) => Number.isNaN(delayOf(i) ?? NaN))) await new Promise((r) => setTimeout(r, 20));
  const delays = arrivals.map((_, i) => delayOf(i)).filter((d): d is number => d !== undefined && !Number.isNaN(d)).sort((a, b) => a - b);
  const at = (p: number) => delays[Math.min(delays.length - 1, Math.floor((p / 100) * delays.length))];
  console.log(`RESULT ${JSON.stringify({ delivered: delays.length, missing: arrivals.length - delays.length, errors, first: delays[0], p50: at(50), p99: at(99), max: delays.at(-1) })}`);
  for (const socket of sockets) socket.terminate();
  process.exit(0);
}
