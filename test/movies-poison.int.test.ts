/**
 * The movies topic is Debezium's, in Avro by schema id: a value its readers cannot decode (written without the
 * registry, or naming a schema id the registry lacks) is set aside on `dead.letters` with the reason by each of
 * them, the ratings service and its projector, and both carry on with the movies behind it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TOPICS } from '../services/ratings/contract.ts';
import { registerChangeSchema, snapshotMessage } from '../services/ratings/fixtures/debezium.ts';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { createSchemaRegistry } from '../services/shared/schemas.ts';
import { frame } from '../services/shared/wire.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

let system: TestSystem;
let bus: Bus;
const deadLetters: { value: string; headers: Record<string, string> }[] = [];
let stopReading: () => Promise<void>;

beforeAll(async () => {
  system = await startSystem();
  bus = await createBus({ clientId: 'movies-poison-test' });
  const reader = bus.createConsumer(`dead-letter-reader-${randomUUID()}`);
  await reader.connect();
  await reader.subscribe({ topic: bus.topic(RUNTIME_TOPICS.deadLetters), fromBeginning: true });
  await reader.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      deadLetters.push({ value: message.value?.toString('latin1') ?? '', headers });
    },
  });
  stopReading = () => reader.disconnect();
});
afterAll(async () => {
  await stopReading?.();
  await bus?.close();
  await system?.stop();
});

const lettersAbout = (consumer: string, marker: string) => deadLetters.filter((d) => d.headers.consumer === consumer && d.value.includes(marker));

it('dead-letters a movies value without the magic byte, and one naming a schema id the registry lacks, with the reason; the movies behind them arrive', async () => {
  const topic = bus.topic(TOPICS.movies);
  const schemaId = await registerChangeSchema(createSchemaRegistry(), topic);
  const tag = randomUUID().slice(0, 6);
  const movie = (id: number, title: string) => snapshotMessage(schemaId, { id, title, releaseYear: 2024, country: 'US', genres: ['Drama'] });
  const producer = bus.kafka.producer();
  await producer.connect();
  // One movie id for all four: one partition, so the good ones are read around the poison, in order.
  await producer.send({
    topic,
    messages: [
      movie(910_001, `Before ${tag}`),
      // As the connector wrote movies before the registry converter (JsonConverter, no schema).
      { key: '910001', value: JSON.stringify({ before: null, after: { id: 910001, title: `json-${tag}` }, op: 'r' }) },
      { key: '910001', value: frame(2_000_000_000, `unknown-id-${tag}`) },
      movie(910_001, `After ${tag}`),
    ],
  });
  await producer.disconnect();

  for (const consumer of ['ratings', 'ratings-projector']) {
    await waitFor(
      () => lettersAbout(consumer, `json-${tag}`).length > 0 && lettersAbout(consumer, `unknown-id-${tag}`).length > 0,
      60_000, () => `${consumer} to dead-letter both movies values (got ${deadLetters.map((d) => d.headers.consumer).join(', ')})`,
    );
    expect(lettersAbout(consumer, `json-${tag}`)[0].headers.reason).toMatch(/starts with byte 123, not the wire format's magic byte 0/);
    expect(lettersAbout(consumer, `unknown-id-${tag}`)[0].headers.reason).toMatch(/names schema id 2000000000, which the schema registry at .* does not have/);
  }

  // Both carried on: the projection has the movie as the last change left it, and the service counts a rating of it.
  await waitFor(async () => (await system.gql(`query { movie(id: "910001") { title } }`)).data?.movie?.title === `After ${tag}`, 30_000, () => 'the movie after the poison in the projection');
  const rated = await system.gql(`mutation { rateMovie(movieId: "910001", rating: 8) { title rating { count } } }`);
  expect(rated.errors).toBeUndefined();
  expect(rated.data.rateMovie).toEqual({ title: `After ${tag}`, rating: { count: 1 } });
});
