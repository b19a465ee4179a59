/**
 * schema.graphql is the contract and the resolvers are typed from it: the committed generated types must be
 * what `npm run codegen` produces now, or the type check is checking against a stale copy.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { executeCodegen } from '@graphql-codegen/cli';
import { buildSchema } from 'graphql';
import { expect, it } from 'vitest';
import config from '../codegen.ts';

const root = resolve(import.meta.dirname, '..');

it('generated resolver types match schema.graphql (run `npm run codegen` after changing it)', async () => {
  const { result } = await executeCodegen({ ...config, cwd: root, silent: true });
  const [output] = result;
  expect(output.filename).toBe('gateway/generated/graphql.ts');
  expect(readFileSync(resolve(root, output.filename), 'utf8')).toBe(output.content);
});

it('keeps the operation names clients depend on', () => {
  const schema = buildSchema(readFileSync(resolve(root, 'schema.graphql'), 'utf8'));
  expect(Object.keys(schema.getQueryType()!.getFields())).toEqual(
    expect.arrayContaining(['order', 'orders', 'awaitOrder', 'inventory', 'inventoryItem']),
  );
  expect(Object.keys(schema.getMutationType()!.getFields())).toEqual(expect.arrayContaining(['placeOrder', 'addInventory']));
  expect(Object.keys(schema.getSubscriptionType()!.getFields())).toEqual(expect.arrayContaining(['orderUpdated']));
});
