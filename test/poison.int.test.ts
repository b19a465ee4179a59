/**
 * Defence in depth for what validation at the boundary misses (an event written by an older version, a bug):
 * no event stops a consumer for good. After bounded retries it is recorded on `dead.letters` with the reason,
 * the consumer and its position, and the consumer carries on with the messages behind it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { KafkaJSNonRetriableError } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBus, REPLAY_FOR_HEADER, type Bus } from '../services/shared/bus.ts';
import { runConsumer } from '../services/shared/consumer.ts';
import { createLogger } from '../services/shared/log.ts';
import { RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { ordersContract, TOPICS, type DomainEvent } from '../services/orders/contract.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';
import { frame } from '../services/shared/wire.ts';
import { onTheWire } from './support/wire.ts';

let system: TestSystem;
let bus: Bus;
const deadLetters: { key: string; value: string; headers: Record<string, string> }[] = [];
let stopReading: () => Promise<void>;

beforeAll(async () => {
  system = await startSystem({ commandTimeoutMs: 30_000 });
  bus = await createBus({ clientId: 'poison-test' });
  const reader = bus.createConsumer(`dead-letter-reader-${randomUUID()}`);
  await reader.connect();
  await reader.subscribe({ topic: bus.topic(RUNTIME_TOPICS.deadLetters), fromBeginning: true });
  await reader.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      deadLetters.push({ key: String(message.key), value: message.value?.toString() ?? '', headers });
    },
  });
  stopReading = () => reader.disconnect();
});
afterAll(async () => {
  await stopReading?.();
  await bus?.close();
  await system?.stop();
});

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
const AWAIT = `query($id: ID!) { awaitOrder(id: $id, timeoutMs: 20000) { state } }`;

/** Writes an event straight to its topic, as an older version of a service (or a bug) could have. */
async function writeEvent(event: DomainEvent, headers?: Record<string, string>) {
  const envelope = ordersContract.event(event, ordersContract.command({ type: 'AddInventory', data: { product: 'x', quantity: 1 } }), new Date());
  if (!headers) return bus.publish([ordersContract.outgoing(envelope)]);
  const producer = bus.kafka.producer();
  await producer.connect();
  await producer.send({ topic: bus.topic(TOPICS.inventoryEvents), messages: [{ key: envelope.aggregateId, value: await onTheWire(bus, TOPICS.inventoryEvents, envelope), headers }] });
  await producer.disconnect();
}

async function orderSettles(product: string) {
  const placed = await system.gql(PLACE, { input: { customerId: `c-${randomUUID()}`, product, quantity: 1, price: 1 } });
  expect(placed.errors).toBeUndefined();
  return (await system.gql(AWAIT, { id: placed.data.placeOrder.id })).data?.awaitOrder.state;
}

const lettersAbout = (consumer: string, marker: string) =>
  deadLetters.filter((d) => d.headers.consumer === consumer && d.value.includes(marker));

it('dead-letters events the orders projection cannot store, with reason and position, and projects the ones behind them', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 50) { stock } }`);
  const created = (orderId: string, extra: object = {}): DomainEvent => ({
    type: 'OrderCreated', data: { orderId, customerId: 'c', product, quantity: 1, price: 1, currency: 'EUR', ...extra },
  });
  const tag = randomUUID().slice(0, 6);
  const long = `long-${tag}-${randomBytes(4000).toString('base64')}`;
  const poisons = {
    [`huge-price-${tag}`]: created(`huge-price-${tag}`, { price: 1.7976931348623157e308 }), // numeric overflow
    [`nul-${tag}`]: created(`nul-${tag}`, { customerId: 'a\u0000b' }), // text cannot hold NUL
    [long]: created(long), // beyond the btree row limit, even compressed
  };
  for (const event of Object.values(poisons)) await writeEvent(event);

  await waitFor(
    () => Object.keys(poisons).every((id) => lettersAbout('orders-projector', id).some((d) => d.value.includes('"OrderCreated"'))),
    60_000,
    () => `the orders projector to dead-letter ${Object.keys(poisons).length} events (got ${deadLetters.map((d) => d.headers.consumer).join(', ')})`,
  );
  for (const id of Object.keys(poisons)) {
    const [letter] = lettersAbout('orders-projector', id).filter((d) => d.value.includes('"OrderCreated"'));
    expect(letter.headers.reason).toMatch(/overflow|0x00|exceeds/);
    expect(letter.headers).toMatchObject({ sourceTopic: bus.topic(TOPICS.orderEvents), sourcePartition: expect.stringMatching(/^\d+$/), sourceOffset: expect.stringMatching(/^\d+$/) });
    expect(letter.key).toBe(`${letter.headers.sourceTopic}:${letter.headers.sourcePartition}:${letter.headers.sourceOffset}`);
  }
  // Orders on every partition still flow through the projection.
  const states = await Promise.all(Array.from({ length: 12 }, () => orderSettles(product)));
  expect(states).toEqual(Array(12).fill('VALIDATED'));
  expect(await system.prisma.order.count({ where: { id: { in: Object.keys(poisons) } } })).toBe(0);
});

it('dead-letters a message without the wire format\'s magic byte, and one naming a schema id the registry lacks, and carries on', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 10) { stock } }`);
  const tag = randomUUID().slice(0, 6);
  const envelopeOf = (orderId: string) => ordersContract.event(
    { type: 'OrderCreated', data: { orderId, customerId: 'c', product, quantity: 1, price: 1, currency: 'EUR' } },
    ordersContract.command({ type: 'AddInventory', data: { product: 'x', quantity: 1 } }), new Date(),
  );
  const unframed = envelopeOf(`unframed-${tag}`);
  const unknownId = envelopeOf(`unknown-id-${tag}`);
  const producer = bus.kafka.producer();
  await producer.connect();
  await producer.send({
    topic: bus.topic(TOPICS.orderEvents),
    messages: [
      { key: unframed.aggregateId, value: JSON.stringify(unframed) }, // as a producer that skips the registry writes
      { key: unknownId.aggregateId, value: frame(2_000_000_000, JSON.stringify(unknownId)) },
    ],
  });
  await producer.disconnect();

  // Both consumers of order events set each aside, naming why.
  for (const consumer of ['orders-projector', 'inventory']) {
    await waitFor(
      () => lettersAbout(consumer, `unframed-${tag}`).length > 0 && lettersAbout(consumer, `unknown-id-${tag}`).length > 0,
      60_000, () => `${consumer} to dead-letter both messages (got ${deadLetters.map((d) => d.headers.consumer).join(', ')})`,
    );
    expect(lettersAbout(consumer, `unframed-${tag}`)[0].headers.reason).toMatch(/starts with byte 123, not the wire format's magic byte 0/);
    expect(lettersAbout(consumer, `unknown-id-${tag}`)[0].headers.reason).toMatch(/names schema id 2000000000, which the schema registry at .* does not have/);
  }
  expect(await orderSettles(product)).toBe('VALIDATED');
});

it('dead-letters an event a service cannot answer within the message size limit, and keeps deciding', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  await system.gql(`mutation { addInventory(product: "${product}", quantity: 5) { stock } }`);
  // An unknown 600 KB product: inventory's rejection would repeat it twice, beyond what Kafka takes.
  const orderId = `big-${randomUUID()}`;
  await writeEvent({ type: 'OrderCreated', data: { orderId, customerId: 'c', product: 'p'.repeat(600_000), quantity: 1, price: 1, currency: 'EUR' } });
  await waitFor(() => lettersAbout('inventory', orderId).length > 0, 60_000, () => 'inventory to dead-letter the order');
  expect(lettersAbout('inventory', orderId)[0].headers.reason).toMatch(/MESSAGE_TOO_LARGE|Kafka takes at most/);
  expect(await orderSettles(product)).toBe('VALIDATED');
});

it('delivers a replayed dead letter only to the consumer it names', async () => {
  const product = `P-${randomUUID().slice(0, 6)}`;
  const added = (quantity: number): DomainEvent => ({ type: 'StockAdded', data: { product, quantity } });
  await writeEvent(added(1));
  await writeEvent(added(10), { [REPLAY_FOR_HEADER]: 'someone-else' });
  await writeEvent(added(100), { [REPLAY_FOR_HEADER]: 'inventory-projector' });
  await waitFor(async () => (await system.prisma.inventoryItem.findUnique({ where: { product } }))?.stock === 101, 20_000, () => 'stock 101');
  // The inventory service, rebuilding its state, skips the copy meant for someone else too: 101 available, not 111.
  await system.restartService('inventory');
  const placed = await system.gql(PLACE, { input: { customerId: `c-${randomUUID()}`, product, quantity: 102, price: 0 } });
  expect((await system.gql(AWAIT, { id: placed.data.placeOrder.id })).data.awaitOrder.state).toBe('FAILED');
  expect((await system.prisma.inventoryItem.findUnique({ where: { product } }))?.stock).toBe(101);
});

it('replaces a consumer that crashed with a non-retriable error', async () => {
  const seen: string[] = [];
  let crashes = 0;
  const topic = RUNTIME_TOPICS.deadLetters; // any topic of this system's prefix: the consumer reads it from the start
  const consumer = await runConsumer(bus, {
    group: `crashing-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    run: () => ({
      eachMessage: async ({ message }) => {
        if (crashes === 0) {
          crashes += 1;
          throw new KafkaJSNonRetriableError('a fault kafkajs will not retry');
        }
        seen.push(String(message.key));
      },
    }),
  }, createLogger('crash-test'));
  try {
    await bus.publishDeadLetter({ topic: 'x', partition: 0, offset: '1', value: Buffer.from('{}'), consumer: 'test' }, 'crash test');
    await waitFor(() => seen.includes('x:0:1'), 30_000, () => 'the replacement consumer to read the message');
    expect(crashes).toBe(1);
  } finally {
    await consumer.stop();
  }
});
