/**
 * What the wire format costs per message, in process (no broker): writing an OrderCreated envelope and reading it
 * back as a consumer does, as plain JSON (before issue 21) and framed with its schema id (after). Reads learn each
 * batch's ids first, as the bus's consumers do, through a cache whose registry counts lookups.
 */
import { ordersContract } from '../services/orders/contract.ts';
import type { SchemaRegistry } from '../services/shared/schemas.ts';
import { createSchemaIds, frame, jsonOf } from '../services/shared/wire.ts';

const MESSAGES = 200_000;
const BATCH = 500;
const SCHEMA_ID = 42;

export interface WireCost {
  messages: number;
  /** Microseconds per message: write (envelope to bytes) and read (bytes to a validated envelope). */
  before: { writeUs: number; readUs: number };
  after: { writeUs: number; readUs: number };
  /** Registry calls made while reading every message, round after round. */
  registryLookups: number;
}

const ROUNDS = 7;

/** Microseconds per message of each measure: the median of ROUNDS runs, taken in turn so that drift hits all alike. */
async function medianUs<K extends string>(measures: Record<K, () => void | Promise<void>>): Promise<Record<K, number>> {
  const samples = Object.fromEntries(Object.keys(measures).map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round <= ROUNDS; round += 1) {
    for (const [name, work] of Object.entries(measures) as [K, () => void | Promise<void>][]) {
      const started = process.hrtime.bigint();
      await work();
      if (round > 0) samples[name].push(Number(process.hrtime.bigint() - started) / 1000 / MESSAGES); // round 0 warms the JIT
    }
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v as number[])])) as Record<K, number>;
}

export async function wireFormatCost(): Promise<WireCost> {
  const cause = ordersContract.command({ type: 'AddInventory', data: { product: 'bench', quantity: 1 } });
  const envelope = ordersContract.event(
    { type: 'OrderCreated', data: { orderId: 'order-1', customerId: 'customer-1', product: 'SOCKS', quantity: 2, price: 9.5, currency: 'EUR' } },
    cause, new Date(),
  );
  let registryLookups = 0;
  const registry = {
    url: 'bench',
    schemaById: async () => ((registryLookups += 1), { schemaType: 'JSON' as const, schema: '{}' }),
  } as unknown as SchemaRegistry;
  const ids = createSchemaIds(registry);

  const plain: Buffer[] = [];
  const framed: Buffer[] = [];
  const us = await medianUs({
    plainWrite() {
      plain.length = 0;
      for (let i = 0; i < MESSAGES; i += 1) plain.push(Buffer.from(JSON.stringify(envelope)));
    },
    framedWrite() {
      framed.length = 0;
      for (let i = 0; i < MESSAGES; i += 1) framed.push(frame(SCHEMA_ID, JSON.stringify(envelope)));
    },
    plainRead() {
      for (const value of plain) ordersContract.validate(JSON.parse(value.toString('utf8')));
    },
    async framedRead() {
      for (let i = 0; i < framed.length; i += BATCH) {
        const batch = framed.slice(i, i + BATCH);
        await ids.learn(batch);
        for (const value of batch) ordersContract.validate(jsonOf(ids, value));
      }
    },
  });
  const before = { writeUs: us.plainWrite, readUs: us.plainRead };
  const after = { writeUs: us.framedWrite, readUs: us.framedRead };
  return { messages: MESSAGES, before, after, registryLookups };
}

// `npx tsx bench/wire.ts`: this measure alone.
if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await wireFormatCost(), null, 2));
