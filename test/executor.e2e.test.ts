/**
 * The compiled executor (gateway/executor.ts) answers exactly what graphql-js answers: every query field of the
 * schema with every field it can select, the README's queries, and the error cases (resolver errors, refused
 * input, errors in non-null fields that null their parent, bad variables), each sent to a gateway that compiles
 * queries and to one that runs graphql-js, on the same system. Data and errors (message, path, locations,
 * extensions) must be equal.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  buildSchema, getNamedType, isAbstractType, isEnumType, isNonNullType, isObjectType, isScalarType, parse,
  type GraphQLField, type GraphQLNamedType,
} from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { readSchema } from '../gateway/schema.ts';
import { startSystem, tokenFor, type TestSystem } from './support/system.ts';

let system: TestSystem;
let graphqlJs: RunningGateway;
const schema = buildSchema(readSchema());

beforeAll(async () => {
  system = await startSystem();
  graphqlJs = await startGateway({ port: 0, host: '127.0.0.1', compiledQueries: false });
});
afterAll(async () => {
  await graphqlJs?.stop();
  await system?.stop();
});

/** Every field of a type that a query can select, objects `depth` levels down; `__typename` on abstract types. */
function selectionOf(type: GraphQLNamedType, depth: number): string {
  if (isScalarType(type) || isEnumType(type)) return '';
  if (isAbstractType(type)) return '{ __typename }';
  if (!isObjectType(type)) return '';
  const fields = Object.values(type.getFields())
    .filter((field) => !field.args.some((arg) => isNonNullType(arg.type)))
    .map((field: GraphQLField<unknown, unknown>) => {
      const inner = getNamedType(field.type);
      if (isScalarType(inner) || isEnumType(inner)) return field.name;
      return depth > 0 ? `${field.name} ${selectionOf(inner, depth - 1)}` : '';
    })
    .filter(Boolean);
  return `{ ${fields.join(' ')} __typename }`;
}

const ids: Record<string, string> = {};

/** Each query field, with arguments that find something, selecting everything below it. */
function everyQueryField(): string[] {
  const args: Record<string, string> = {
    order: `(id: "${ids.order}")`,
    orders: '(first: 2)',
    awaitOrder: `(id: "${ids.order}", timeoutMs: 1000)`,
    inventoryItem: `(product: "${ids.product}")`,
    movie: '(id: "7001")',
    movies: '(search: "jit", first: 2)',
    topRatedMovies: '(limit: 3)',
    ride: `(id: "${ids.ride}")`,
    driver: '(id: "jit-driver")',
    driversNear: '(location: { lat: 52.52, lng: 13.405 }, radiusKm: 10)',
  };
  const query = schema.getQueryType()!;
  return Object.values(query.getFields()).map((field) => {
    if (field.args.some((arg) => isNonNullType(arg.type)) && !args[field.name]) throw new Error(`give the test arguments for Query.${field.name}`);
    return `query Every_${field.name} { ${field.name}${args[field.name] ?? ''} ${selectionOf(getNamedType(field.type), 3)} }`;
  });
}

/** The README's query operations (mutations and subscriptions are not the compiled executor's). */
function readmeQueries(): string[] {
  const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.flatMap((block) => parse(block).definitions.flatMap((definition) =>
    definition.kind === 'OperationDefinition' && definition.operation === 'query' && definition.loc
      ? [block.slice(definition.loc.start, definition.loc.end)]
      : []));
}

const errorCases: { query: string; variables?: Record<string, unknown> }[] = [
  { query: '{ orders(after: "not a cursor") { edges { node { id } } } }' }, // resolver error, non-null: data null
  { query: '{ inventory { product } orders(first: 1000) { edges { node { id } } } }' }, // refused input, null propagates to data
  { query: `{ a: order(id: "${'x'.repeat(300)}") { id } inventory { product } }` }, // refused input in a nullable field: partial data
  { query: '{ awaitOrder(id: "never-placed", timeoutMs: 0) { id } }' }, // NOT_FOUND
  { query: '{ movie(id: "not a number") { id } movies(after: "???") { edges { cursor } } }' },
  { query: '{ driversNear(location: { lat: 1, lng: 1 }, radiusKm: -1) { id } }' },
  { query: 'query($n: Int) { orders(first: $n) { edges { node { id } } } }', variables: { n: 'many' } }, // variable coercion
  { query: 'query($n: Int!) { orders(first: $n) { edges { node { id } } } }' }, // a missing variable
  { query: 'query($id: ID!) { order(id: $id) { id createdAt validations { checkType } } }', variables: { id: 'no-such-order' } },
];

async function post(gateway: RunningGateway, query: string, variables?: Record<string, unknown>) {
  // As an admin, who may run every operation: both executors see the same data.
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('admin', ['admin'])}` };
  const response = await fetch(gateway.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return { status: response.status, body: await response.json() as { data?: unknown; errors?: unknown[] } };
}

describe('the compiled executor', () => {
  beforeAll(async () => {
    ids.product = `JIT-${Date.now()}`;
    const stocked = await system.gql(`mutation($p: String!) { addInventory(product: $p, quantity: 5) { stock } }`, { p: ids.product });
    expect(stocked.errors).toBeUndefined();
    for (const quantity of [1, 2, 50]) {
      const placed = await system.gql(`mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`, {
        input: { customerId: 'jit-customer', product: ids.product, quantity, price: 12.5 },
      });
      expect(placed.errors).toBeUndefined();
      ids.order = placed.data.placeOrder.id;
      await system.gql(`query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { state } }`, { id: ids.order });
    }
    // Movies come from the legacy catalog (Debezium); these rows stand in for projected ones.
    await system.prisma.movie.createMany({
      data: [7001n, 7002n, 7003n].map((id, i) => ({
        id, title: `jit movie ${i}`, releaseYear: i ? 1990 + i : null, country: i ? 'DE' : null, genres: i ? ['Drama'] : [],
        ratingCount: i, ratingSumTenths: BigInt(i * 85), updatedAt: new Date(),
      })),
    });
    const online = await system.gql(`mutation { goOnline(driverId: "jit-driver", location: { lat: 52.52, lng: 13.405 }) { id } }`);
    expect(online.errors).toBeUndefined();
    const ride = await system.gql(`mutation { requestRide(input: { riderId: "jit-rider", pickup: { lat: 52.521, lng: 13.41 }, dropoff: { lat: 52.5, lng: 13.3 } }) { id } }`);
    expect(ride.errors).toBeUndefined();
    ids.ride = ride.data.requestRide.id;
  });

  it('compiles every query field with everything it selects (so the comparison below exercises graphql-jit)', () => {
    for (const query of everyQueryField()) expect(isCompiledQuery(compileQuery(schema, parse(query))), query).toBe(true);
  });

  it('answers every query field, the README queries and every error case as graphql-js does', async () => {
    const cases: { query: string; variables?: Record<string, unknown> }[] = [
      ...everyQueryField().map((query) => ({ query })), ...readmeQueries().map((query) => ({ query })), ...errorCases,
    ];
    expect(readmeQueries().length).toBeGreaterThanOrEqual(3);
    let errors = 0;
    let located = 0;
    let values = 0;
    for (const { query, variables } of cases) {
      const [compiled, reference] = [await post(system.gateways[0], query, variables), await post(graphqlJs, query, variables)];
      expect(compiled, query).toEqual(reference);
      errors += reference.body.errors?.length ?? 0;
      located += reference.body.errors?.filter((e) => (e as { path?: unknown }).path && (e as { locations?: unknown }).locations).length ?? 0;
      values += JSON.stringify(reference.body.data ?? null).length;
    }
    // The comparison covered errors and real data, not only empty answers.
    expect(errors).toBeGreaterThanOrEqual(errorCases.length);
    expect(located).toBeGreaterThanOrEqual(5); // resolver errors keep their path and locations
    expect(values).toBeGreaterThan(2000);
  });
});
