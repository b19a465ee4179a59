/**
 * The subscription server's delivery (./websocket.ts) on a schema of its own, over real sockets: events taken from
 * live queues as they are pushed reach every subscriber in push order, one execution per event and operation, and a
 * subscription its feed ends is completed only after the updates pushed before the end.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createAuthenticator } from './auth.ts';
import { createLiveQueue, type LiveQueue } from '../services/shared/graphql/index.ts';
import { attachSubscriptions, originRefusal } from './websocket.ts';

const counter = () => ({ inc: () => {}, dec: () => {} });

/** A gateway-like server whose `ticks` subscription is a live queue the test pushes to. */
async function serve() {
  const feeds: LiveQueue<{ n: number }>[] = [];
  let executions = 0;
  const schema = makeExecutableSchema({
    typeDefs: 'type Query { ok: Boolean } type Subscription { ticks: Int! countdown: Int! }',
    resolvers: {
      Subscription: {
        ticks: {
          subscribe: () => {
            const feed = createLiveQueue<{ n: number }>(() => {});
            feeds.push(feed);
            return feed.iterator;
          },
          resolve: (event: { n: number }) => {
            executions += 1;
            return event.n;
          },
        },
        // Not a live queue: an async generator, read in a loop by the server.
        countdown: {
          subscribe: async function* () {
            for (const n of [3, 2, 1]) yield { n };
          },
          resolve: (event: { n: number }) => event.n,
        },
      },
    },
  });
  const http: Server = createServer();
  const subscriptions = attachSubscriptions(http, {
    schema,
    context: () => ({}),
    authenticator: createAuthenticator({ secret: 'a-test-secret-of-at-least-32-characters', generatedSecret: false }),
    formatError: (formatted) => formatted,
    limits: { maxDepth: 10, maxAliases: 30, maxCost: 10_000, maxTokens: 2000 },
    maxPayloadBytes: 100_000,
    allowedOrigins: undefined,
    maxSubscriptionsPerSocket: 10,
    maxSocketBufferBytes: 4 * 2 ** 20,
    metrics: { subscriptionsActive: counter(), subscriptionExecutions: counter(), subscriptionDeliveries: counter(), slowConsumers: counter() } as never,
  });
  await new Promise<void>((listening) => http.listen(0, '127.0.0.1', listening));
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
  return {
    feeds,
    executions: () => executions,
    /** A client subscribed to `ticks` (or another field): every message it receives, in order. */
    async subscriber(field = 'ticks') {
      const socket = new WebSocket(url, 'graphql-transport-ws');
      const messages: { type: string; payload?: { data?: Record<string, number> } }[] = [];
      socket.on('message', (raw) => messages.push(JSON.parse(String(raw))));
      await new Promise((open) => socket.once('open', open));
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await until(() => messages.some((m) => m.type === 'connection_ack'));
      socket.send(JSON.stringify({ id: 'sub-1', type: 'subscribe', payload: { query: `subscription { ${field} }` } }));
      return { socket, messages };
    },
    async close() {
      await subscriptions.dispose();
      await new Promise((closed) => http.close(closed));
    },
  };
}

async function until(condition: () => boolean, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

let server: Awaited<ReturnType<typeof serve>> | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('subscription delivery', () => {
  it('sends every subscriber every pushed event in order, executing each event once for all of them', async () => {
    server = await serve();
    const clients = await Promise.all([server.subscriber(), server.subscriber(), server.subscriber()]);
    await until(() => server!.feeds.length === 3);
    // A feed pushes one event object to all its listeners, several events in one go.
    const events = [1, 2, 3, 4].map((n) => ({ n }));
    for (const event of events) for (const feed of server.feeds) feed.push(event);
    const ticks = (m: (typeof clients)[number]['messages']) => m.filter((x) => x.type === 'next').map((x) => x.payload!.data!.ticks);
    await until(() => clients.every((c) => ticks(c.messages).length === 4));
    for (const client of clients) expect(ticks(client.messages)).toEqual([1, 2, 3, 4]);
    expect(server.executions()).toBe(4);
    for (const client of clients) client.socket.close();
  });

  it('completes a subscription its feed ended only after the updates pushed before the end', async () => {
    server = await serve();
    const client = await server.subscriber();
    await until(() => server!.feeds.length === 1);
    const [feed] = server.feeds;
    feed.push({ n: 7 });
    feed.push({ n: 8 });
    feed.close();
    await until(() => client.messages.some((m) => m.type === 'complete'));
    expect(client.messages.filter((m) => m.type !== 'connection_ack').map((m) => m.type === 'next' ? m.payload!.data!.ticks : m.type)).toEqual([7, 8, 'complete']);
    client.socket.close();
  });

  it('keeps each subscriber\'s order when events and endings arrive while a fan-out is still being written', async () => {
    server = await serve();
    // More subscribers than one slice of writes (WRITES_PER_SLICE), so the fan-out lets I/O in before it is done.
    const clients = await Promise.all(Array.from({ length: 300 }, () => server!.subscriber()));
    await until(() => server!.feeds.length === 300);
    const first = { n: 1 };
    for (const feed of server.feeds) feed.push(first);
    // Once the first slice is written: the next event, then the end, while the other subscribers still wait for the first.
    await new Promise((resolve) => setImmediate(resolve));
    const second = { n: 2 };
    for (const feed of server.feeds) feed.push(second);
    for (const feed of server.feeds) feed.close();
    const seen = (m: (typeof clients)[number]['messages']) => m.filter((x) => x.type !== 'connection_ack').map((x) => x.type === 'next' ? x.payload!.data!.ticks : x.type);
    await until(() => clients.every((c) => c.messages.some((m) => m.type === 'complete')));
    for (const client of clients) expect(seen(client.messages)).toEqual([1, 2, 'complete']);
    expect(server.executions()).toBe(2);
    for (const client of clients) client.socket.close();
  });

  it('delivers a source that is not a live queue the same way, then completes it', async () => {
    server = await serve();
    const client = await server.subscriber('countdown');
    await until(() => client.messages.some((m) => m.type === 'complete'));
    expect(client.messages.filter((m) => m.type !== 'connection_ack').map((m) => m.type === 'next' ? m.payload!.data!.countdown : m.type)).toEqual([3, 2, 1, 'complete']);
    client.socket.close();
  });
});

describe('originRefusal', () => {
  it('lets in clients without an Origin, the gateway\'s own pages, local pages by default and the allowed origins', () => {
    expect(originRefusal(undefined, 'gw:4000', undefined)).toBeUndefined();
    expect(originRefusal('http://gw:4000', 'gw:4000', ['https://app.example'])).toBeUndefined();
    expect(originRefusal('http://localhost:5173', 'gw:4000', undefined)).toBeUndefined();
    expect(originRefusal('http://[::1]:5173', 'gw:4000', undefined)).toBeUndefined();
    expect(originRefusal('https://app.example', 'gw:4000', ['https://app.example/'])).toBeUndefined();
    expect(originRefusal('https://any.example', 'gw:4000', ['*'])).toBeUndefined();
  });

  it('refuses other origins, and ones that are no URL', () => {
    expect(originRefusal('https://evil.example', 'gw:4000', undefined)).toMatch(/origin https:\/\/evil.example are not allowed/);
    expect(originRefusal('http://localhost:5173', 'gw:4000', ['https://app.example'])).toMatch(/ALLOWED_ORIGINS/);
    expect(originRefusal('null', 'gw:4000', undefined)).toMatch(/origin null are not allowed/);
  });
});
