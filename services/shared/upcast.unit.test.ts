/** Reading what older builds wrote: a message's upcast steps and former names (messages.ts). */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineContract } from './messages.ts';
import { framed } from '../../test/support/wire.ts';

// Version 1 wrote `{ item, cents }`; version 2 splits the price into `{ amount, currency }`; `Bought` became `Purchased`.
const shop = defineContract({
  domain: 'shop', roles: [], topics: { 'shop.events': {} }, commands: {},
  events: {
    Purchased: {
      schema: z.object({ item: z.string(), price: z.object({ amount: z.number(), currency: z.string() }) }),
      topic: 'shop.events', schemaVersion: 2, key: (d) => d.item, formerly: ['Bought'],
      upcast: { 1: ({ item, cents }: { item: string; cents: number }) => ({ item, price: { amount: cents / 100, currency: 'EUR' } }) },
    },
  },
  errorCodes: [], services: [], projections: [],
});

const written = (type: string, schemaVersion: number, data: unknown) => framed({
  kind: 'event', eventId: 'e-1', type, correlationId: 'c', causationId: 'c', schemaVersion, aggregateId: 'pen', occurredAt: '2026-01-01T00:00:00.000Z', data,
});

describe('upcasting', () => {
  it('reads a message an older build wrote, under its former name, as the current version', () => {
    expect(shop.decode(written('Bought', 1, { item: 'pen', cents: 250 }))).toMatchObject({
      type: 'Purchased', schemaVersion: 2, data: { item: 'pen', price: { amount: 2.5, currency: 'EUR' } },
    });
  });

  it('reads the current version as it is', () => {
    expect(shop.decode(written('Purchased', 2, { item: 'pen', price: { amount: 1, currency: 'USD' } })).data).toEqual({ item: 'pen', price: { amount: 1, currency: 'USD' } });
  });

  it('refuses, saying why, a version with no way to the current one and one a newer build wrote', () => {
    expect(() => shop.decode(written('Purchased', 3, {}))).toThrow('Purchased has schema version 3, written by a newer build: this one reads up to 2');
    const noSteps = defineContract({
      domain: 'shop', roles: [], topics: { 'shop.events': {} }, commands: {},
      events: { Purchased: { schema: z.object({ item: z.string() }), topic: 'shop.events', schemaVersion: 2, key: (d) => d.item } },
      errorCodes: [], services: [], projections: [],
    });
    expect(() => noSteps.decode(written('Purchased', 1, { item: 'pen' }))).toThrow('the contract has no upcast from version 1 to 2');
  });
});
