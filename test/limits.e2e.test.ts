/**
 * No request can break the pipeline: query depth, alias and cost limits over HTTP and graphql-ws, body and
 * message size, bad operations on a shared socket, WebSocket origins and the subscriptions cap, against the
 * whole system on real Kafka and PostgreSQL. Each refusal carries its code, and nothing refused is written.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { startSystem, tokenFor, type GraphQLResult, type TestSystem } from './support/system.ts';

let system: TestSystem;
/** A gateway of the same system with tiny limits, so that each is easy to cross. */
let strict: RunningGateway;
const clients: Client[] = [];
const sockets: WebSocket[] = [];
/** These tests are about limits, not access: they run as an admin. */
let admin: string;

beforeAll(async () => {
  admin = await tokenFor('admin', ['admin']);
  system = await startSystem();
  strict = await startGateway({
    port: 0,
    host: '127.0.0.1',
    limits: { maxDepth: 2, maxAliases: 1, maxCost: 5 },
    allowedOrigins: ['https://shop.example'],
    maxSubscriptionsPerSocket: 2,
  });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.dispose()));
  for (const socket of sockets) socket.terminate();
  await strict?.stop();
  await system?.stop();
});

async function post(gateway: RunningGateway, query: string): Promise<{ status: number; body: GraphQLResult }> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${admin}` };
  const response = await fetch(gateway.url, { method: 'POST', headers, body: JSON.stringify({ query }) });
  return { status: response.status, body: (await response.json()) as GraphQLResult };
}

const placeInput = (id: string) => `input: { id: "${id}", customerId: "c", product: "P", quantity: 1, price: 1 }`;
const orderRows = (...ids: string[]) => system.prisma.order.count({ where: { id: { in: ids } } });
const limitError = (limit: string, max: number, actual: number) =>
  expect.objectContaining({
    message: expect.stringContaining(`at most ${max}`),
    extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED', limit, max, actual }),
  });

function wsClient(gateway: RunningGateway, on: { connected?: () => void; closed?: () => void } = {}): Client {
  const client = createClient({
    url: gateway.wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, on, connectionParams: { authorization: `Bearer ${admin}` },
  });
  clients.push(client);
  return client;
}

/** Subscribes and resolves with the first value, or rejects with the operation's errors. */
function firstValue(client: Client, query: string): { value: Promise<any>; unsubscribe: () => void } {
  let unsubscribe = () => {};
  const value = new Promise<any>((resolve, reject) => {
    unsubscribe = client.subscribe({ query }, { next: (result) => (result.errors ? reject(result.errors) : resolve(result.data)), error: reject, complete: () => {} });
  });
  return { value, unsubscribe: () => unsubscribe() };
}

/** Opens a raw WebSocket with the graphql-ws subprotocol; resolves with `open` or the refused upgrade's status and body. */
function openSocket(gateway: RunningGateway, headers: Record<string, string>): Promise<{ open: WebSocket } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws', { headers });
    sockets.push(socket);
    socket.on('open', () => resolve({ open: socket }));
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    socket.on('error', reject);
  });
}

/** The origin of a page the gateway itself served: the host its clients connect to. */
const ownOrigin = (gateway: RunningGateway) => `http://${new URL(gateway.wsUrl).host}`;

describe('query limits', () => {
  it('refuses 300 aliases of inventory before running them', async () => {
    const query = `{ ${Array.from({ length: 300 }, (_, i) => `a${i}: inventory { product }`).join(' ')} }`;
    const { status, body } = await post(system.gateways[0], query);
    expect(status).toBe(400);
    expect(body.data).toBeUndefined();
    expect(body.errors).toContainEqual(limitError('aliases', 30, 300));
    expect(body.errors?.find((e) => e.extensions?.limit === 'aliases')?.message).toMatch(/send the rest in further requests/);
  });

  it('refuses an operation over the default cost: two pages of 100 orders with their validations', async () => {
    const page = 'orders(first: 100) { edges { cursor node { id customerId product quantity price state createdAt updatedAt validations { checkType result reason } } } pageInfo { hasNextPage endCursor } }';
    const one = await post(system.gateways[0], `{ ${page} }`);
    expect(one.body.errors).toBeUndefined(); // 7501: the largest page the schema allows passes
    const two = await post(system.gateways[0], `{ a: ${page} b: ${page} }`);
    expect(two.body.errors).toEqual([limitError('cost', 10_000, 15_002)]);
    expect(two.body.errors?.[0].message).toMatch(/smaller pages/);
  });

  it('refuses mutations over each limit with its code, and places no order', async () => {
    const [deep, aliased1, aliased2, costly] = Array.from({ length: 4 }, () => `order-${randomUUID()}`);
    const depth = await post(strict, `mutation { placeOrder(${placeInput(deep)}) { id validations { checkType } } }`);
    expect(depth.body.errors).toContainEqual(limitError('depth', 2, 3));
    const aliases = await post(strict, `mutation { a: placeOrder(${placeInput(aliased1)}) { id } b: placeOrder(${placeInput(aliased2)}) { id } }`);
    expect(aliases.body.errors).toEqual([limitError('aliases', 1, 2)]);
    const cost = await post(strict, `mutation { placeOrder(${placeInput(costly)}) { id customerId product quantity price } }`);
    expect(cost.body.errors).toEqual([limitError('cost', 5, 6)]);
    for (const refused of [depth, aliases, cost]) expect(refused.body.data).toBeUndefined();

    // Within the limits the same gateway places the order, so the refusals above wrote nothing.
    const allowed = `order-${randomUUID()}`;
    const placed = await post(strict, `mutation { placeOrder(${placeInput(allowed)}) { id } }`);
    expect(placed.body).toEqual({ data: { placeOrder: { id: allowed } } });
    expect(await orderRows(allowed)).toBe(1);
    expect(await orderRows(deep, aliased1, aliased2, costly)).toBe(0);
  });

  // Each fragment spreads the next twice: expanded at every spread that is 2^40 selections, and N=20 froze the
  // gateway for 5.7 s. Measured once per fragment, it is refused by cost at once (a few ms here).
  const chained = (n: number) => {
    let query = 'query Chained { ...F0 }\n';
    for (let i = 0; i < n; i++) query += `fragment F${i} on Query { movie(id: "362") { title } ${i + 1 < n ? `...F${i + 1} ...F${i + 1}` : ''} }\n`;
    return query;
  };

  it('refuses 40 chained fragments by cost without expanding them, over HTTP and graphql-ws, anonymously', async () => {
    const started = performance.now();
    const response = await fetch(system.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: chained(40) }) });
    const elapsed = performance.now() - started;
    expect(response.status).toBe(400);
    expect(((await response.json()) as GraphQLResult).errors).toEqual([limitError('cost', 10_000, 2 * (2 ** 40 - 1))]);
    // Not a speed target: without the memo this request never finishes, so any bound catches it.
    expect(elapsed).toBeLessThan(2_000);

    const client = createClient({ url: system.gateways[0].wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
    clients.push(client);
    await expect(firstValue(client, chained(40)).value).rejects.toContainEqual(limitError('cost', 10_000, 2 * (2 ** 40 - 1)));
  });

  it('stops parsing a document past MAX_QUERY_TOKENS (2000): 20,000 repeats of one field are refused unread', async () => {
    const query = `{ ${'inventory { product } '.repeat(20_000)}}`;
    const { status, body } = await post(system.gateways[0], query);
    expect(status).toBe(400);
    expect(body.errors).toEqual([expect.objectContaining({
      message: expect.stringMatching(/contains more tha[nt] 2000 tokens/),
      extensions: expect.objectContaining({ code: 'GRAPHQL_PARSE_FAILED' }),
    })]);
    const client = wsClient(system.gateways[0]);
    await expect(firstValue(client, query).value).rejects.toContainEqual(expect.objectContaining({
      message: expect.stringMatching(/contains more tha[nt] 2000 tokens/),
      extensions: expect.objectContaining({ code: 'GRAPHQL_PARSE_FAILED' }),
    }));
  });

  it('applies the same limits to subscriptions over graphql-ws', async () => {
    const client = wsClient(strict);
    const deep = firstValue(client, `subscription { orderUpdated(id: "x") { id validations { checkType } } }`);
    await expect(deep.value).rejects.toContainEqual(limitError('depth', 2, 3));
  });
});

describe('request size', () => {
  const big = JSON.stringify({ query: `{ inventory { product } }`, variables: { padding: 'x'.repeat(2_000_000) } });

  it('answers a 2 MB body with 413 PAYLOAD_TOO_LARGE, from its Content-Length', async () => {
    const response = await fetch(system.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      errors: [{ message: expect.stringMatching(/larger than 1000000 bytes/), extensions: { code: 'PAYLOAD_TOO_LARGE', max: 1_000_000 } }],
    });
  });

  it('answers a 2 MB chunked body with 413 too, and goes on serving', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(system.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      // No Content-Length: node sends it chunked, 64 kB at a time.
      for (let at = 0; at < big.length; at += 65_536) req.write(big.slice(at, at + 65_536));
      req.end();
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await post(system.gateways[0], '{ inventory { product } }')).body.errors).toBeUndefined();
  });

  it('closes a WebSocket that sends a 2 MB message with 1009 (message too big)', async () => {
    const opened = await openSocket(system.gateways[0], {});
    if (!('open' in opened)) throw new Error(`upgrade refused: ${opened.status}`);
    const closed = new Promise<number>((resolve) => opened.open.on('close', (code) => resolve(code)));
    opened.open.send(JSON.stringify({ type: 'connection_init' }));
    opened.open.send(big);
    expect(await closed).toBe(1009);
  });
});

describe('graphql-ws sockets', () => {
  it('answers a subscribe with a syntax error with an error for that operation; the socket goes on', async () => {
    const id = `order-${randomUUID()}`;
    expect((await post(system.gateways[0], `mutation { placeOrder(${placeInput(id)}) { id } }`)).body.errors).toBeUndefined();
    let connections = 0;
    let closes = 0;
    const client = wsClient(system.gateways[0], { connected: () => { connections += 1; }, closed: () => { closes += 1; } });

    const broken = firstValue(client, `subscription { orderUpdated(id: "${id}") { id `);
    await expect(broken.value).rejects.toEqual([
      expect.objectContaining({ message: expect.stringMatching(/Syntax Error/), extensions: { code: 'GRAPHQL_PARSE_FAILED' } }),
    ]);
    const invalid = firstValue(client, `subscription { orderUpdated(id: "${id}") { nope } }`);
    await expect(invalid.value).rejects.toEqual([expect.objectContaining({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })]);

    const valid = firstValue(client, `subscription { orderUpdated(id: "${id}") { id } }`);
    expect(await valid.value).toEqual({ orderUpdated: { id } });
    valid.unsubscribe();
    expect({ connections, closes }).toEqual({ connections: 1, closes: 0 });
  });

  it('caps subscriptions per socket with TOO_MANY_SUBSCRIPTIONS, and frees a slot when one completes', async () => {
    const id = `order-${randomUUID()}`;
    expect((await post(system.gateways[0], `mutation { placeOrder(${placeInput(id)}) { id } }`)).body.errors).toBeUndefined();
    const client = wsClient(strict);
    const query = `subscription { orderUpdated(id: "${id}") { id } }`;
    const first = firstValue(client, query);
    const second = firstValue(client, query);
    expect(await first.value).toEqual({ orderUpdated: { id } });
    expect(await second.value).toEqual({ orderUpdated: { id } });

    const third = firstValue(client, query);
    await expect(third.value).rejects.toEqual([
      expect.objectContaining({ message: expect.stringMatching(/complete one first/), extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', max: 2 } }),
    ]);
    first.unsubscribe();
    const fourth = firstValue(client, query);
    expect(await fourth.value).toEqual({ orderUpdated: { id } });
    second.unsubscribe();
    fourth.unsubscribe();
  });
});

describe('WebSocket origins', () => {
  it('refuses a foreign Origin with 403 and a reason', async () => {
    const refused = await openSocket(system.gateways[0], { origin: 'https://evil.example' });
    expect(refused).toEqual({ status: 403, body: expect.stringMatching(/origin https:\/\/evil.example .*ALLOWED_ORIGINS/) });
  });

  it('accepts no Origin (not a browser), its own origin and, by default, localhost on any port', async () => {
    const gateway = system.gateways[0];
    for (const headers of [{} as Record<string, string>, { origin: ownOrigin(gateway) }, { origin: 'http://localhost:5173' }]) {
      expect(await openSocket(gateway, headers)).toEqual({ open: expect.any(WebSocket) });
    }
  });

  it('with ALLOWED_ORIGINS, accepts exactly those and its own origin', async () => {
    expect(await openSocket(strict, { origin: 'https://shop.example' })).toEqual({ open: expect.any(WebSocket) });
    expect(await openSocket(strict, { origin: ownOrigin(strict) })).toEqual({ open: expect.any(WebSocket) });
    expect(await openSocket(strict, { origin: 'http://localhost:5173' })).toMatchObject({ status: 403 });
  });
});
