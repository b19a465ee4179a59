/**
 * The gateway as a hostile client meets it: who gets the development tokens, where it listens, a request that
 * does not say which operation to run, a subscription sent over HTTP, a client that trickles its request, and
 * more connections than it holds.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { startSystem, waitFor, type GraphQLResult, type TestSystem } from './support/system.ts';

let system: TestSystem;
/** Started as `npm start` starts it: no host given, HOST unset. */
let byDefault: RunningGateway;
/** HOST=0.0.0.0: reachable from other machines. */
let exposed: RunningGateway;
/** Short request timeouts and a cap of 4 connections. */
let tight: RunningGateway;
const sockets: Socket[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  system = await startSystem();
  const host = process.env.HOST;
  delete process.env.HOST;
  try {
    [byDefault, exposed, tight] = await Promise.all([
      startGateway({ port: 0 }),
      startGateway({ port: 0, host: '0.0.0.0' }),
      startGateway({ port: 0, headersTimeoutMs: 500, requestTimeoutMs: 1_000, maxConnections: 4 }),
    ]);
  } finally {
    if (host !== undefined) process.env.HOST = host;
  }
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.allSettled(clients.map((c) => c.dispose()));
  await Promise.allSettled([byDefault, exposed, tight].map((g) => g?.stop()));
  await system?.stop();
});

/** A GET with the headers given as they are (fetch would set Host itself). */
function get(gateway: RunningGateway, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gateway.port, path, headers: { host: `localhost:${gateway.port}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function post(gateway: RunningGateway, payload: Record<string, unknown>): Promise<{ status: number; body: GraphQLResult }> {
  const response = await fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  return { status: response.status, body: (await response.json()) as GraphQLResult };
}

/** A raw TCP connection to the gateway, closed after the test file. */
function open(gateway: RunningGateway, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(gateway.port, host, () => resolve(socket));
    sockets.push(socket);
    socket.once('error', reject);
  });
}

/** Resolves with what the server sent once it closed the connection, or undefined after `timeoutMs`. */
function closedBy(socket: Socket, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let received = '';
    socket.on('data', (chunk) => { received += chunk; });
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

describe('development tokens', () => {
  it('are given to a page of this machine opened as localhost, 127.0.0.1 or [::1]', async () => {
    for (const host of [`localhost:${byDefault.port}`, `127.0.0.1:${byDefault.port}`, `[::1]:${byDefault.port}`]) {
      const { status, body } = await get(byDefault, '/auth/dev-tokens', { host });
      expect(status, host).toBe(200);
      expect(JSON.parse(body)).toEqual({ admin: expect.any(String), customer: expect.any(String) });
    }
  });

  it('are refused with another Host header (a DNS-rebinding page)', async () => {
    for (const host of ['attacker.example', `attacker.example:${byDefault.port}`, 'localhost.attacker.example']) {
      const { status, body } = await get(byDefault, '/auth/dev-tokens', { host });
      expect(status, host).toBe(403);
      expect(body).toMatch(/only to pages opened as localhost/);
      expect(body).not.toMatch(/eyJ/); // no token
    }
  });

  it('are never given by a gateway that listens beyond loopback (HOST), even to this machine', async () => {
    const { status, body } = await get(exposed, '/auth/dev-tokens');
    expect(status).toBe(404);
    expect(body).toMatch(/HOST=0\.0\.0\.0/);
  });
});

describe('where it listens', () => {
  const external = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;

  it.skipIf(!external)('listens on 127.0.0.1 by default: this machine\'s other addresses are refused', async () => {
    await expect(open(byDefault, external)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(open(exposed, external)).resolves.toBeDefined();
  });
});

describe('requests that do not say what to run', () => {
  // Anonymous clients may read the catalog; no movie has these ids here.
  const TWO = 'query A { movie(id: "1") { id } } query B { movie(id: "2") { title } }';

  it('answers 400 BAD_REQUEST naming the operations, for two operations without operationName or an unknown one', async () => {
    const missing = await post(byDefault, { query: TWO });
    expect(missing).toEqual({ status: 400, body: { errors: [expect.objectContaining({
      message: 'this document has 2 operations and no operationName says which to run: send one of "A", "B" as operationName',
      extensions: expect.objectContaining({ code: 'BAD_REQUEST' }),
    })] } });
    const unknown = await post(byDefault, { query: TWO, operationName: 'C' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/no operation named "C": send one of "A", "B"/), extensions: expect.objectContaining({ code: 'BAD_REQUEST' }) })]);
    expect((await post(byDefault, { query: TWO, operationName: 'B' })).body).toEqual({ data: { movie: null } });
  });

  it('answers the same over graphql-ws, and keeps the socket open', async () => {
    const client = createClient({ url: byDefault.wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
    clients.push(client);
    const run = (payload: { query: string; operationName?: string }) => new Promise<unknown>((resolve, reject) => {
      client.subscribe(payload, { next: (result) => (result.errors ? reject(result.errors) : resolve(result.data)), error: reject, complete: () => {} });
    });
    await expect(run({ query: TWO })).rejects.toEqual([expect.objectContaining({ message: expect.stringMatching(/no operationName says which/), extensions: { code: 'BAD_REQUEST' } })]);
    await expect(run({ query: TWO, operationName: 'C' })).rejects.toEqual([expect.objectContaining({ message: expect.stringMatching(/no operation named "C"/) })]);
    await expect(run({ query: TWO, operationName: 'A' })).resolves.toEqual({ movie: null });
  });

  it('refuses a subscription sent over HTTP with 400, naming graphql-ws', async () => {
    const { status, body } = await post(byDefault, { query: 'subscription { orderUpdated(id: "x") { id } }' });
    expect(status).toBe(400);
    expect(body.errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/graphql-ws protocol/), extensions: expect.objectContaining({ code: 'BAD_REQUEST' }) })]);
  });
});

describe('slow and many connections', () => {
  it('answers 408 and closes a connection that trickles its body past the request timeout', async () => {
    const socket = await open(tight);
    const closed = closedBy(socket, 10_000);
    socket.write(`POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    const trickle = setInterval(() => socket.writable && socket.write(' '), 100);
    try {
      expect(await closed).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
    }
  });

  it('closes a connection that has not sent its headers by the headers timeout', async () => {
    const socket = await open(tight);
    const closed = closedBy(socket, 10_000);
    socket.write('GET /healthz HTTP/1.1\r\nHost: local');
    expect(await closed).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes connections past the cap at once, and serves again once one is gone', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => open(tight)));
    const extra = await open(tight);
    expect(await closedBy(extra, 5_000)).toBe(''); // closed without a byte
    held[0].destroy();
    await waitFor(async () => (await get(tight, '/healthz').catch(() => ({ status: 0 }))).status === 200, 5_000, () => 'a served request after a connection closed');
  });
});
