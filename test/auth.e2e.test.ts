/**
 * Who may see and do what, against the whole system: every operation of the schema, as anonymous, two
 * customers, a rider, two drivers and an admin, over HTTP and over graphql-ws, is allowed or refused with the
 * right code (a new operation without a row fails the test). Then: another user's updates never reach a
 * subscriber, a token that expires closes its socket with 4401 at expiry, invalid tokens are refused, and
 * `npm run -s token` prints a token the gateway accepts.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { buildSchema, isObjectType } from 'graphql';
import { createClient } from 'graphql-ws';
import { Kafka } from 'kafkajs';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Role } from '../services/shared/graphql/index.ts';
import { signToken } from '../gateway/auth.ts';
import { TOPICS } from '../services/ratings/contract.ts';
import { registerChangeSchema, snapshotMessage } from '../services/ratings/fixtures/debezium.ts';
import { createSchemaRegistry } from '../services/shared/schemas.ts';
import { startSystem, tokenFor, waitFor, type TestSystem } from './support/system.ts';
import { payloadOf } from './support/wire.ts';

const root = resolve(import.meta.dirname, '..');
let system: TestSystem;

/** Who runs each operation: anonymous, two customers, a rider, the ride's driver, another driver, an admin. */
const USERS = {
  anonymous: undefined,
  alice: ['customer'],
  bob: ['customer'],
  rita: ['rider'],
  dave: ['driver'],
  dora: ['driver'],
  admin: ['admin'],
} satisfies Record<string, Role[] | undefined>;
type User = keyof typeof USERS;
const tokens = {} as Record<User, string | null>;

/**
 * What a user gets: `ok` (allowed: no access refusal, and a query or subscription answers its record), `hidden`
 * (another's record: null, an empty page or NOT_FOUND, as for an id that does not exist), or a refusal's code.
 */
type Expected = 'ok' | 'hidden' | 'UNAUTHENTICATED' | 'FORBIDDEN';
type Rule = Record<User, Expected>;

/** Anonymous is UNAUTHENTICATED; `ok` and `hidden` users as listed; everyone else FORBIDDEN. */
function rule(ok: User[], hidden: User[] = []): Rule {
  const entries = (Object.keys(USERS) as User[]).map((user): [User, Expected] => [
    user,
    ok.includes(user) ? 'ok' : hidden.includes(user) ? 'hidden' : user === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN',
  ]);
  return Object.fromEntries(entries) as Rule;
}
const PUBLIC: Rule = rule(Object.keys(USERS) as User[]);

// The records the table acts on: alice's order, rita's ride driven by dave (completed, so repeated transitions
// answer FAILED_PRECONDITION instead of changing it), movie 1 in the catalog.
const ALICE_ORDER = 'auth-order-alice';
const BOB_ORDER = 'auth-order-bob';
const RIDE = 'auth-ride-rita';
const PICKUP = { lat: 52.5, lng: 13.4 };
const FAR = { lat: 48.2, lng: 11.7 }; // rides requested by the table, in Munich: no driver near, nothing else changes

interface Row {
  query: string;
  variables?: Record<string, unknown>;
  who: Rule;
}

/** One row per operation of the schema: the test fails when the schema has one this table lacks. */
const TABLE: Record<string, Row> = {
  // Query
  order: { query: `query($id: ID!) { order(id: $id) { id } }`, variables: { id: ALICE_ORDER }, who: rule(['alice', 'admin'], ['bob']) },
  orders: { query: `query { orders(customerId: "alice") { edges { node { id } } } }`, who: rule(['alice', 'admin'], ['bob']) },
  awaitOrder: { query: `query($id: ID!) { awaitOrder(id: $id, timeoutMs: 1000) { id } }`, variables: { id: ALICE_ORDER }, who: rule(['alice', 'admin'], ['bob']) },
  inventory: { query: `query { inventory { product } }`, who: rule(['alice', 'bob', 'admin']) },
  inventoryItem: { query: `query { inventoryItem(product: "AUTHSOCKS") { product } }`, who: rule(['alice', 'bob', 'admin']) },
  movie: { query: `query { movie(id: "1") { title } }`, who: PUBLIC },
  movies: { query: `query { movies(first: 1) { edges { node { id } } } }`, who: PUBLIC },
  topRatedMovies: { query: `query { topRatedMovies(limit: 1) { id } }`, who: PUBLIC },
  ride: { query: `query($id: ID!) { ride(id: $id) { id } }`, variables: { id: RIDE }, who: rule(['rita', 'dave', 'admin'], ['dora']) },
  driver: { query: `query { driver(id: "dave") { id } }`, who: rule(['dave', 'admin'], ['dora']) },
  regions: { query: `query { regions { id } }`, who: PUBLIC },
  driversNear: { query: `query { driversNear(location: { lat: 52.5, lng: 13.4 }, radiusKm: 1) { id } }`, who: rule(['admin']) },
  // Mutation
  placeOrder: {
    query: `mutation { placeOrder(input: { customerId: "alice", product: "AUTHSOCKS", quantity: 1, price: 1 }) { id } }`,
    who: rule(['alice', 'admin']), // bob: FORBIDDEN, not for himself
  },
  addInventory: { query: `mutation { addInventory(product: "AUTHSOCKS", quantity: 1) { product } }`, who: rule(['admin']) },
  rateMovie: { query: `mutation { rateMovie(movieId: "1", rating: 7) { title } }`, who: rule(['alice', 'bob', 'admin']) },
  goOnline: { query: `mutation { goOnline(driverId: "dave", location: { lat: 40, lng: 30 }) { id } }`, who: rule(['dave', 'admin']) },
  updateDriverLocation: { query: `mutation { updateDriverLocation(driverId: "dave", location: { lat: 40, lng: 30 }) { id } }`, who: rule(['dave', 'admin']) },
  // A driver's call is taken, each position checked on its own (dora's for dave comes back as a FORBIDDEN rejection).
  updateDriverLocations: {
    query: `mutation($locations: [DriverLocationInput!]!) { updateDriverLocations(locations: $locations) { accepted rejected { code } } }`,
    variables: { locations: [{ driverId: 'dave', location: { lat: 40, lng: 30 }, at: new Date().toISOString() }] },
    who: rule(['dave', 'dora', 'admin']),
  },
  goOffline: { query: `mutation { goOffline(driverId: "dave") { id } }`, who: rule(['dave', 'admin']) },
  requestRide: {
    query: `mutation($at: LocationInput!) { requestRide(input: { riderId: "rita", pickup: $at, dropoff: $at }) { id } }`,
    variables: { at: FAR },
    who: rule(['rita', 'admin']),
  },
  startRide: { query: `mutation($id: ID!) { startRide(rideId: $id) { id } }`, variables: { id: RIDE }, who: rule(['dave', 'admin'], ['dora']) },
  completeRide: { query: `mutation($id: ID!) { completeRide(rideId: $id) { id } }`, variables: { id: RIDE }, who: rule(['dave', 'admin'], ['dora']) },
  cancelRide: { query: `mutation($id: ID!) { cancelRide(rideId: $id) { id } }`, variables: { id: RIDE }, who: rule(['rita', 'dave', 'admin'], ['dora']) },
  // Subscription
  orderUpdated: { query: `subscription($id: ID!) { orderUpdated(id: $id) { id } }`, variables: { id: ALICE_ORDER }, who: rule(['alice', 'admin'], ['bob']) },
  movieRatingChanged: { query: `subscription { movieRatingChanged(movieId: "1") { title } }`, who: PUBLIC },
  topRatedMoviesChanged: { query: `subscription { topRatedMoviesChanged(limit: 1) { id } }`, who: PUBLIC },
  rideUpdated: { query: `subscription($id: ID!) { rideUpdated(rideId: $id) { id } }`, variables: { id: RIDE }, who: rule(['rita', 'dave', 'admin'], ['dora']) },
  driverLocation: { query: `subscription { driverLocation(driverId: "dave") { id } }`, who: rule(['dave', 'admin'], ['dora']) },
  cityUpdated: { query: `subscription { cityUpdated(box: { south: 52.4, west: 13.2, north: 52.6, east: 13.6 }) { drivers { id } } }`, who: rule(['admin']) },
};

/** The schema's root operations, as `Query.order`, …, read from the composed public contract. */
function schemaOperations(): { type: 'Query' | 'Mutation' | 'Subscription'; field: string }[] {
  const schema = buildSchema(readFileSync(resolve(root, 'schema.graphql'), 'utf8'));
  return (['Query', 'Mutation', 'Subscription'] as const).flatMap((type) => {
    const root = schema.getType(type);
    return root && isObjectType(root) ? Object.keys(root.getFields()).map((field) => ({ type, field })) : [];
  });
}

interface Outcome {
  data?: Record<string, unknown> | null;
  code?: string;
  closeCode?: number;
}
const ACCESS_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND']);

async function overHttp(row: Row, token: string | null): Promise<Outcome> {
  const result = await system.gql(row.query, row.variables, { token });
  return { data: result.data, code: result.errors?.[0]?.extensions?.code };
}

/** Runs the operation on a socket of its own and answers with its first result, its error, or the socket's close. */
function overWebSocket(row: Row, token: string | null): Promise<Outcome> {
  return new Promise((resolveOutcome) => {
    let closeCode: number | undefined;
    let outcome: Outcome | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      void client.dispose();
      resolveOutcome({ ...outcome, closeCode });
    };
    // A refusal for want of a user also closes the socket: that is part of the answer, wait for it.
    const settle = () => {
      if (outcome && !(outcome.code === 'UNAUTHENTICATED' && closeCode === undefined)) finish();
    };
    const client = createClient({
      url: system.gateways[0].wsUrl, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0,
      connectionParams: token ? { authorization: `Bearer ${token}` } : undefined,
      // Once answered, the close that follows a refusal; before that, the error sink reports a close.
      on: { closed: (event) => { closeCode ??= (event as { code: number }).code; if (outcome) settle(); } },
    });
    const timer = setTimeout(() => { outcome ??= { code: 'NO_ANSWER' }; finish(); }, 15_000);
    client.subscribe({ query: row.query, variables: row.variables }, {
      next: (result) => { outcome ??= { data: result.data as never, code: result.errors?.[0]?.extensions?.code as string | undefined }; settle(); },
      error: (error) => {
        if (Array.isArray(error)) outcome ??= { code: error[0]?.extensions?.code };
        else { closeCode ??= (error as { code?: number }).code; outcome ??= {}; }
        settle();
      },
      complete: () => { outcome ??= { code: 'COMPLETED_WITHOUT_RESULT' }; settle(); },
    });
  });
}

/** Whether what came back is what the rule expects. */
function judge(field: string, expected: Expected, outcome: Outcome, transport: 'http' | 'ws', mutation: boolean): boolean {
  const value = outcome.data?.[field];
  const empty = value === null || value === undefined || (value as { edges?: unknown[] }).edges?.length === 0;
  switch (expected) {
    case 'ok':
      // A mutation may fail on its merits (FAILED_PRECONDITION on a completed ride): what counts is that access let it through.
      return !ACCESS_CODES.has(outcome.code ?? '') && outcome.closeCode === undefined && (mutation || !empty);
    case 'hidden':
      return outcome.closeCode === undefined && (outcome.code === 'NOT_FOUND' || (outcome.code === undefined && empty));
    case 'UNAUTHENTICATED':
      // Over graphql-ws: the operation's UNAUTHENTICATED error, then the socket closed with 4401.
      return transport === 'http' ? outcome.code === 'UNAUTHENTICATED' : outcome.code === 'UNAUTHENTICATED' && outcome.closeCode === 4401;
    case 'FORBIDDEN':
      return outcome.code === 'FORBIDDEN' && outcome.closeCode === undefined;
  }
}

async function ok(query: string, variables: Record<string, unknown> | undefined, user: User) {
  const result = await system.gql(query, variables, { token: tokens[user] });
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return Object.values(result.data)[0] as any;
}

/** Movie 1 as Debezium writes it (Avro, its schema registered as the converter does: services/ratings/fixtures), so rateMovie can count. */
async function seedMovie() {
  const topic = `${system.isolation.prefix}${TOPICS.movies}`;
  const { key, value } = snapshotMessage(await registerChangeSchema(createSchemaRegistry(), topic), { id: 1, title: 'The Midnight Canyon: The Return', releaseYear: 1934, country: 'AU', genres: ['Horror'] });
  const kafka = new Kafka({ clientId: 'auth-test', brokers: system.isolation.env.KAFKA_BROKERS.split(','), logLevel: 0 });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ key, value }] });
  await producer.disconnect();
  await waitFor(async () => (await system.prisma.movie.count({ where: { id: 1n } })) === 1, 30_000, () => 'movie 1 in the projection');
}

beforeAll(async () => {
  system = await startSystem();
  for (const [user, roles] of Object.entries(USERS)) tokens[user as User] = roles ? await tokenFor(user, roles) : null;
  await seedMovie();
  await ok(`mutation { addInventory(product: "AUTHSOCKS", quantity: 100) { product } }`, undefined, 'admin');
  for (const [id, customer] of [[ALICE_ORDER, 'alice'], [BOB_ORDER, 'bob']] as const) {
    await ok(`mutation($id: ID!, $c: ID!) { placeOrder(input: { id: $id, customerId: $c, product: "AUTHSOCKS", quantity: 1, price: 1 }) { id } }`, { id, c: customer }, customer);
    await ok(`query($id: ID!) { awaitOrder(id: $id) { state } }`, { id }, customer);
  }
  // rita's ride, driven by dave from pickup to the end.
  await ok(`mutation($at: LocationInput!) { goOnline(driverId: "dave", location: $at) { id } }`, { at: PICKUP }, 'dave');
  const ride = await ok(`mutation($id: ID!, $at: LocationInput!) { requestRide(input: { id: $id, riderId: "rita", pickup: $at, dropoff: $at }) { driverId } }`, { id: RIDE, at: PICKUP }, 'rita');
  expect(ride.driverId).toBe('dave');
  await ok(`mutation($at: LocationInput!) { updateDriverLocation(driverId: "dave", location: $at) { id } }`, { at: PICKUP }, 'dave');
  await waitFor(async () => (await system.prisma.ride.findUnique({ where: { id: RIDE } }))?.state === 'DRIVER_ARRIVED', 20_000, () => 'dave arriving');
  await ok(`mutation { startRide(rideId: "${RIDE}") { id } }`, undefined, 'dave');
  await ok(`mutation { completeRide(rideId: "${RIDE}") { id } }`, undefined, 'dave');
}, 180_000);
afterAll(async () => {
  await system?.stop();
});

describe('the rules, for every operation of the schema', () => {
  it('has a row for every Query, Mutation and Subscription field, and none for a field that is gone', () => {
    const operations = schemaOperations().map((o) => o.field);
    expect(operations.filter((field) => !TABLE[field])).toEqual([]);
    expect(Object.keys(TABLE).filter((field) => !operations.includes(field))).toEqual([]);
  });

  it('lets anyone introspect the schema, over HTTP and graphql-ws', async () => {
    const introspection: Row = { query: '{ __schema { queryType { name } } }', who: PUBLIC };
    expect(await overHttp(introspection, null)).toEqual({ data: { __schema: { queryType: { name: 'Query' } } }, code: undefined });
    expect((await overWebSocket(introspection, null)).data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  const mutations = new Set(schemaOperations().filter((o) => o.type === 'Mutation').map((o) => o.field));
  const subscriptions = new Set(schemaOperations().filter((o) => o.type === 'Subscription').map((o) => o.field));

  for (const [field, row] of Object.entries(TABLE)) {
    it(`${field}: ${Object.entries(row.who).map(([user, expected]) => `${user} ${expected}`).join(', ')}`, async () => {
      const wrong: string[] = [];
      for (const user of Object.keys(USERS) as User[]) {
        const transports = subscriptions.has(field) ? (['ws'] as const) : (['http', 'ws'] as const);
        for (const transport of transports) {
          const outcome = transport === 'http' ? await overHttp(row, tokens[user]) : await overWebSocket(row, tokens[user]);
          if (!judge(field, row.who[user], outcome, transport, mutations.has(field))) {
            wrong.push(`${user} over ${transport}: expected ${row.who[user]}, got ${JSON.stringify(outcome)}`);
          }
        }
      }
      expect(wrong).toEqual([]);
    }, 120_000);
  }
});

describe('isolation between users', () => {
  it('never lets a customer follow an order that is not its own, placed before or after it asks', async () => {
    const later = 'auth-order-bob-later';
    // alice asks for an order id nobody placed yet, and for bob's: both are NOT_FOUND, the same answer.
    const early = system.subscribe(`subscription { orderUpdated(id: "${later}") { id customerId state } }`, undefined, { token: tokens.alice });
    const bobs = system.subscribe(`subscription { orderUpdated(id: "${BOB_ORDER}") { id customerId } }`, undefined, { token: tokens.alice });
    const adminWatch = system.subscribe(`subscription { orderUpdated(id: "${later}") { id customerId state } }`);
    const own = system.subscribe(`subscription { orderUpdated(id: "${ALICE_ORDER}") { id customerId } }`, undefined, { token: tokens.alice });
    await own.received(1);
    await waitFor(() => early.errors.length > 0 && bobs.errors.length > 0, 10_000, () => 'the refusals');
    for (const refused of [early, bobs]) expect(refused.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'NOT_FOUND' }) })]);
    await ok(`mutation { placeOrder(input: { id: "${later}", customerId: "bob", product: "AUTHSOCKS", quantity: 1, price: 1 }) { id } }`, undefined, 'bob');
    await adminWatch.received(2); // CREATED, then its verdict: the admin, watching the same id, saw it all
    expect(early.values).toEqual([]);
    expect(bobs.values).toEqual([]);
    expect(own.values.every((v) => v.orderUpdated.customerId === 'alice')).toBe(true);
    // alice's order list never shows bob's, whatever she asks for.
    const mine = await ok(`query { orders(first: 100) { edges { node { customerId } } } }`, undefined, 'alice');
    expect(new Set(mine.edges.map((e: any) => e.node.customerId))).toEqual(new Set(['alice']));
    for (const s of [early, bobs, adminWatch, own]) await s.close();
  });

  it('answers a customer awaiting another customer\'s order as for an order that never appears: NOT_FOUND after the wait', async () => {
    const started = Date.now();
    const result = await system.gql(`query { awaitOrder(id: "${BOB_ORDER}", timeoutMs: 800) { id } }`, undefined, { token: tokens.alice });
    expect(result.errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND' }, message: expect.stringMatching(/appeared within 800 ms/) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
  });

  it('records who did it: the command and its events carry the actor', async () => {
    const id = 'auth-order-actor';
    await ok(`mutation { placeOrder(input: { id: "${id}", customerId: "alice", product: "AUTHSOCKS", quantity: 1, price: 1 }) { id } }`, undefined, 'alice');
    const kafka = new Kafka({ clientId: 'auth-test-reader', brokers: system.isolation.env.KAFKA_BROKERS.split(','), logLevel: 0 });
    const consumer = kafka.consumer({ groupId: `${system.isolation.prefix}auth-reader` });
    const seen: any[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: `${system.isolation.prefix}orders.events`, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => { const e = await payloadOf(message.value); if (e.aggregateId === id) seen.push(e); } });
    try {
      await waitFor(() => seen.some((e) => e.type === 'OrderCreated'), 20_000, () => 'OrderCreated of the order');
    } finally {
      await consumer.disconnect();
    }
    expect(seen.find((e) => e.type === 'OrderCreated').actor).toEqual({ sub: 'alice', roles: ['customer'] });
  });
});

describe('tokens', () => {
  it('closes a subscription\'s socket with 4401 when its token expires, at expiry', async () => {
    const token = await signToken({ sub: 'alice', roles: ['customer'], ttlSeconds: 2 });
    const expiresAt = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp * 1000;
    const watch = system.subscribe(`subscription { orderUpdated(id: "${ALICE_ORDER}") { id } }`, undefined, { token });
    await watch.received(1);
    await waitFor(() => watch.closeCode() !== undefined, 10_000, () => 'the socket to close');
    const closedAt = Date.now();
    expect(watch.closeCode()).toBe(4401);
    expect(closedAt).toBeGreaterThanOrEqual(expiresAt);
    expect(closedAt - expiresAt).toBeLessThan(1_000);
    await watch.close();
  });

  it('refuses an invalid token: 401 UNAUTHENTICATED over HTTP, even for a public operation; 4401 over graphql-ws', async () => {
    const expired = await signToken({ sub: 'alice', roles: ['customer'], ttlSeconds: -10 });
    const forged = await signToken({ sub: 'alice', roles: ['admin'], ttlSeconds: 60 }, { secret: 'not-the-secret', generatedSecret: false });
    for (const authorization of [`Bearer ${expired}`, `Bearer ${forged}`, 'Bearer not.a.jwt', `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${'x'.repeat(9000)}`]) {
      const response = await fetch(system.gateways[0].url, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ query: '{ topRatedMovies { id } }' }),
      });
      expect(response.status, authorization.slice(0, 40)).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const body = (await response.json()) as any;
      expect(body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(body.data).toBeUndefined();
    }
    for (const token of [expired, forged]) {
      const outcome = await overWebSocket(TABLE.topRatedMoviesChanged, token);
      expect(outcome.closeCode).toBe(4401);
      expect(outcome.data).toBeUndefined();
    }
  });

  it('answers an anonymous request for a private operation with HTTP 401', async () => {
    const response = await fetch(system.gateways[0].url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ inventory { product } }' }) });
    expect(response.status).toBe(401);
    expect(((await response.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('prints, with `npm run -s token`, only a token the gateway accepts; bad flags exit 2 with the reason', async () => {
    const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const child = spawn('npm', ['run', '-s', 'token', '--', ...args], { cwd: root, env: process.env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
    });
    const printed = await run(['--sub', 'alice', '--roles', 'customer', '--ttl', '1h']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const mine = await system.gql(`query { order(id: "${ALICE_ORDER}") { customerId } }`, undefined, { token: printed.stdout.trim() });
    expect(mine).toEqual({ data: { order: { customerId: 'alice' } } });
    const bad = await run(['--sub', 'alice', '--roles', 'boss']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/unknown role "boss"/);
    const badTtl = await run(['--sub', 'alice', '--roles', 'customer', '--ttl', 'soon']);
    expect(badTtl.code).toBe(2);
    expect(badTtl.stderr).toMatch(/--ttl must be/);
  }, 60_000);
});
