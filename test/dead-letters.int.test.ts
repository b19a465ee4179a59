/**
 * `npm run dead-letters` on real Kafka: it lists what the runtime set aside (also on an empty topic), replays
 * a chosen dead letter to its source topic and partition with `replay-for`, and refuses ids it does not know.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { listDeadLetters, main, replayDeadLetters, UsageError } from '../scripts/dead-letters.ts';
import { readTopic } from '../scripts/topic-reader.ts';
import { tallyContract, TOPICS } from './fixtures/tally/contract.ts';
import { isolate, type Isolation } from './support/system.ts';
import { onTheWire } from './support/wire.ts';

let isolation: Isolation;
let bus: Bus;
beforeAll(async () => {
  isolation = await isolate([tallyContract]);
  bus = await createBus({ clientId: 'dead-letters-test' });
});
afterAll(async () => {
  await bus?.close();
  await isolation?.drop();
});

const command = tallyContract.command({ type: 'AddToTally', data: { tally: 'tally-dl-1', amount: 1 } });

it('lists nothing on an empty topic, and says so', async () => {
  expect(await listDeadLetters(bus)).toEqual([]);
  const lines: string[] = [];
  expect(await main([], (line) => lines.push(line))).toBe(0);
  expect(lines.join('\n')).toMatch(/no dead letters on test-.*dead\.letters/);
});

it('lists dead letters, replays one to its source with replay-for, and refuses unknown ids', async () => {
  const source = bus.topic(TOPICS.commands);
  await bus.publishDeadLetter(
    { topic: source, partition: 2, offset: '7', value: await onTheWire(bus, TOPICS.commands, command), consumer: 'tally' },
    'invalid AddToTally: amount too large',
  );
  await bus.publishDeadLetter({ topic: source, partition: 4, offset: '9', value: Buffer.from('not json'), consumer: 'tally' }, 'message value is not JSON');

  const letters = await listDeadLetters(bus);
  expect(letters).toHaveLength(2);
  const [readable, garbage] = [letters.find((l) => l.source.offset === '7')!, letters.find((l) => l.source.offset === '9')!];
  expect(readable).toMatchObject({ consumer: 'tally', type: 'AddToTally', reason: 'invalid AddToTally: amount too large', source: { topic: source, partition: 2 } });
  expect(readable.id).toBe(`${readable.partition}:${readable.offset}`);
  expect(Date.parse(readable.time)).toBeGreaterThan(Date.now() - 60_000);
  expect(garbage).toMatchObject({ type: null, reason: 'message value is not JSON', source: { partition: 4, offset: '9' } });

  const lines: string[] = [];
  expect(await main(['list', '--json'], (line) => lines.push(line))).toBe(0);
  const listed = JSON.parse(lines.join('\n')) as { id: string; schemaId: number | null; value: string }[];
  expect(listed.map((l) => l.id).sort()).toEqual(letters.map((l) => l.id).sort());
  // Shown as text: a framed value's payload beside its schema id, anything else as it was.
  expect(listed.find((l) => l.id === readable.id)).toMatchObject({ schemaId: expect.any(Number), value: JSON.stringify(command) });
  expect(listed.find((l) => l.id === garbage.id)).toMatchObject({ schemaId: null, value: 'not json' });

  const [replayed] = await replayDeadLetters(bus, [readable.id]);
  expect(replayed).toMatchObject({ id: readable.id, consumer: 'tally', topic: source, partition: 2, key: command.aggregateId });
  const messages = await readTopic(bus, source);
  const found = messages.filter((m) => m.headers['replay-for']);
  expect(found).toHaveLength(1);
  expect(found[0]).toMatchObject({
    partition: 2,
    offset: replayed.offset,
    key: command.aggregateId,
    headers: { 'replay-for': 'tally', 'replay-of': `${bus.topic(RUNTIME_TOPICS.deadLetters)}:${readable.id}` },
  });
  expect(found[0].value).toEqual(await onTheWire(bus, TOPICS.commands, command));

  // Unknown ids are refused before anything is published; bad usage exits 2.
  await expect(replayDeadLetters(bus, [readable.id, '5:999'])).rejects.toThrow(UsageError);
  await expect(replayDeadLetters(bus, ['5:999'])).rejects.toThrow(/no dead letter 5:999/);
  expect((await readTopic(bus, source)).length).toBe(messages.length);
  expect(await main(['replay', 'nonsense'], () => {})).toBe(2);
  expect(await main(['replay'], () => {})).toBe(2);
  expect(await main(['frobnicate'], () => {})).toBe(2);
});
