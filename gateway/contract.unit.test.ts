/**
 * schema.graphql is the whole public contract, composed from the gateway's part and every domain's slice, and
 * each domain's resolvers are typed from it: the committed files must be what `npm run schema` and
 * `npm run codegen` produce now, or the type check is checking against a stale copy.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { executeCodegen } from '@graphql-codegen/cli';
import { buildSchema } from 'graphql';
import { expect, it } from 'vitest';
import config from '../codegen.ts';
import { composeSchema, readSchema } from './schema.ts';
import { loadSlices } from './slices.ts';

const root = resolve(import.meta.dirname, '..');

it('schema.graphql is composed from the slices (run `npm run schema` after changing one)', async () => {
  const slices = await loadSlices();
  expect(readSchema()).toBe(composeSchema(slices.map((slice) => slice.typeDefs)));
});

it('generated resolver types match schema.graphql (run `npm run codegen` after changing it)', async () => {
  const { result } = await executeCodegen({ ...config, cwd: root, silent: true });
  expect(result.length).toBeGreaterThan(0);
  for (const output of result) {
    expect(output.filename).toMatch(/^services\/[a-z-]+\/graphql\/generated\.ts$/);
    expect(readFileSync(resolve(root, output.filename), 'utf8'), output.filename).toBe(output.content);
  }
});

it('keeps the operation names clients depend on', () => {
  const schema = buildSchema(readSchema());
  expect(Object.keys(schema.getQueryType()!.getFields())).toEqual(
    expect.arrayContaining(['order', 'orders', 'awaitOrder', 'inventory', 'inventoryItem']),
  );
  expect(Object.keys(schema.getMutationType()!.getFields())).toEqual(expect.arrayContaining(['placeOrder', 'addInventory']));
  expect(Object.keys(schema.getSubscriptionType()!.getFields())).toEqual(expect.arrayContaining(['orderUpdated']));
});
