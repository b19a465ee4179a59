/** The query limits measure what they document, on the real schema. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildSchema, getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql/index.js';
import { describe, expect, it } from 'vitest';
import { queryLimitRules } from './limits.ts';

const schema = buildSchema(readFileSync(resolve(import.meta.dirname, '../schema.graphql'), 'utf8'));

/** What each limit measured, from a run where every limit is 0 (so each one reports). */
function measured(query: string): Record<string, unknown> {
  const errors = validate(schema, parse(query), queryLimitRules({ maxDepth: 0, maxAliases: 0, maxCost: 0 }));
  return Object.fromEntries(errors.map((e) => [e.extensions.limit as string, e.extensions.actual]));
}

describe('query limits', () => {
  it('multiplies a list by 20, a paged field by `first`, and counts a connection’s edges once per page', () => {
    expect(measured('{ inventory { product stock } }')).toEqual({ depth: 2, cost: 1 + 20 * 2 });
    expect(measured('{ orders(first: 5) { edges { node { id validations { checkType } } } } }')).toEqual({
      depth: 5, cost: 1 + 5 * (1 + (1 + 1 + (1 + 20 * 1))),
    });
    expect(measured('{ orders { edges { node { id } } } }').cost).toBe(1 + 20 * 3);
    expect(measured('query($n: Int) { orders(first: $n) { edges { node { id } } } }').cost).toBe(1 + 100 * 3);
  });

  it('counts only aliases that differ from the field name, fragments expanded for depth and cost', () => {
    expect(measured('{ a: inventory { product } inventory: inventory { product } }')).toMatchObject({ aliases: 1 });
    expect(measured('{ ...F } fragment F on Query { order(id: "x") { ... on Order { id } } }')).toEqual({ depth: 2, cost: 2 });
  });

  it('ignores introspection, so the playground’s introspection query passes the defaults', () => {
    const defaults = queryLimitRules({ maxDepth: 10, maxAliases: 30, maxCost: 10_000 });
    expect(validate(schema, parse(getIntrospectionQuery()), [...specifiedRules, ...defaults])).toEqual([]);
  });

  it('measures each fragment once: 40 chained fragments, each spreading the next twice, are refused at once', () => {
    // Expanded at every spread, this document is 2^40 selections: it froze the gateway before (N=20 took 5.7 s).
    let query = '{ ...F0 }\n';
    for (let i = 0; i < 40; i++) query += `fragment F${i} on Query { movie(id: "362") { title } ${i < 39 ? `...F${i + 1} ...F${i + 1}` : ''} }\n`;
    const errors = validate(schema, parse(query), [...specifiedRules, ...queryLimitRules({ maxDepth: 10, maxAliases: 30, maxCost: 10_000 })]);
    expect(errors.map((e) => e.extensions)).toEqual([{ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'cost', max: 10_000, actual: 2 * (2 ** 40 - 1) }]);
  });

  it('does not loop on a fragment that spreads itself (GraphQL reports the cycle)', () => {
    const errors = validate(schema, parse('{ ...F } fragment F on Query { ...F }'), [...specifiedRules, ...queryLimitRules({ maxDepth: 10, maxAliases: 30, maxCost: 10_000 })]);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/Cannot spread fragment "F" within itself/)]);
  });
});
