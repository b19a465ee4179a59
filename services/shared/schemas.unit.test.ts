import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineContract } from './messages.ts';
import { breakingChanges, topicSchemas } from './schemas.ts';

const contract = defineContract({
  domain: 'shop',
  roles: [],
  topics: { 'shop.commands': {}, 'shop.events': {}, 'shop.table': { compacted: true }, 'shop.captured': { external: () => undefined } },
  commands: { Buy: { schema: z.object({ item: z.string() }), topic: 'shop.commands', schemaVersion: 1, key: (d) => d.item } },
  events: {
    Bought: { schema: z.object({ item: z.string(), count: z.number().int() }), topic: 'shop.events', schemaVersion: 1, key: (d) => d.item },
    Priced: { schema: z.object({ item: z.string(), cents: z.number().int() }), topic: 'shop.table', schemaVersion: 1, key: (d) => d.item },
  },
  errorCodes: [],
  services: [],
  projections: [],
});

const [commands, events, table] = topicSchemas([contract], 'p.');
const messageOf = (schema: Record<string, unknown>, type: string) => (schema.oneOf as Record<string, any>[]).find((m) => m.title === type)!;

describe('topicSchemas', () => {
  it('gives each topic the contract writes a subject under the prefix, commands BACKWARD, events and tables BACKWARD_TRANSITIVE', () => {
    expect([commands, events, table].map(({ subject, compatibility }) => [subject, compatibility])).toEqual([
      ['p.shop.commands-value', 'BACKWARD'],
      ['p.shop.events-value', 'BACKWARD_TRANSITIVE'],
      ['p.shop.table-value', 'BACKWARD_TRANSITIVE'],
    ]); // shop.captured is written by something else: not registered from here
  });

  it('declares each envelope and its data closed, with the data fields the zod schema requires', () => {
    const bought = messageOf(events.schema, 'Bought');
    expect(bought.additionalProperties).toBe(false);
    expect(bought.properties.type).toEqual({ const: 'Bought' });
    expect(bought.required).toEqual(['kind', 'type', 'eventId', 'correlationId', 'causationId', 'schemaVersion', 'aggregateId', 'occurredAt', 'data']);
    expect(bought.properties.data).toMatchObject({ type: 'object', required: ['item', 'count'], additionalProperties: false });
    expect(messageOf(commands.schema, 'Buy').required).toContain('commandId');
  });
});

describe('breakingChanges', () => {
  const edited = (edit: (data: Record<string, any>) => void) => {
    const next = structuredClone(events.schema);
    edit(messageOf(next, 'Bought').properties.data);
    return breakingChanges(events.schema, next);
  };

  it('names a field that became required, one that is gone and one whose type changed', () => {
    expect(edited((data) => { data.properties.note = { type: 'string' }; data.required.push('note'); }))
      .toEqual(["Bought's data.note became required (rule: a new field needs a default)"]);
    expect(edited((data) => { delete data.properties.count; data.required = ['item']; }))
      .toEqual(["Bought's data.count is gone (rule: a field written before stays declared)"]);
    expect(edited((data) => { data.properties.count = { type: 'string' }; }))
      .toEqual([`Bought's data.count changed type from "integer" to "string" (rule: a field keeps its type)`]);
  });

  it('finds nothing in an optional field, and names a message type that is gone', () => {
    expect(edited((data) => { data.properties.note = { type: 'string', default: '' }; })).toEqual([]);
    const next = structuredClone(events.schema);
    next.oneOf = [];
    expect(breakingChanges(events.schema, next)).toEqual(['Bought is gone']);
  });
});

describe('a renamed message', () => {
  it('keeps an envelope under its former name, so what the log holds under it stays registered', () => {
    const renamed = defineContract({
      domain: 'shop', roles: [], topics: { 'shop.events': {} }, commands: {},
      events: { Purchased: { schema: z.object({ item: z.string() }), topic: 'shop.events', schemaVersion: 1, key: (d) => d.item, formerly: ['Bought'] } },
      errorCodes: [], services: [], projections: [],
    });
    const [topic] = topicSchemas([renamed], '');
    expect((topic.schema.oneOf as { title: string }[]).map((m) => m.title)).toEqual(['Purchased', 'Bought']);
  });
});
