/**
 * A task producer (services/shared/bus.ts) on the real broker is not used again after a failed transaction: kafkajs
 * takes back the sequence numbers of a failed produce although the broker may have appended it, so the next batch
 * with those numbers could be dropped as a duplicate. A new producer of the task fences it and goes on.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { readTopic } from '../scripts/topic-reader.ts';
import { tallyContract, TOPICS } from './fixtures/tally/contract.ts';
import { createBus } from '../services/shared/bus.ts';
import { ownTopics, waitFor } from './support/system.ts';

it('is broken after a failed transaction, and a new producer of the task commits what the failed one did not', async () => {
  const prefix = `task-producer-${randomUUID().slice(0, 8)}.`;
  const topics = await ownTopics(prefix, [tallyContract]);
  const bus = await createBus({ clientId: 'task-producer-test', prefix });
  const command = () => tallyContract.outgoing(tallyContract.command({ type: 'AddToTally', data: { tally: `P-${randomUUID()}`, amount: 1 } }));
  try {
    const first = await bus.taskProducer('task-producer-test.task-0');
    const lost = command();
    await expect(first.transaction(async (txn) => {
      await txn.publish([lost]);
      throw new Error('the work failed after its produce');
    })).rejects.toThrow('the work failed after its produce');
    expect(first.broken).toBe(true);
    await expect(first.transaction(async () => {})).rejects.toThrow(/being replaced/);

    const second = await bus.taskProducer('task-producer-test.task-0');
    const kept = command();
    await second.transaction(async (txn) => {
      await txn.publish([kept]);
    });
    // EndTxn is answered before the markers are written: read until they are.
    let ids: string[] = [];
    const read = async () => (ids = (await readTopic(bus, bus.topic(TOPICS.commands))).map((m) => (tallyContract.decode(m.value) as { commandId: string }).commandId));
    await waitFor(async () => (await read()).includes((kept.envelope as { commandId: string }).commandId), 20_000, () => `the kept command, read: ${ids.join(', ')}`);
    expect(ids).not.toContain((lost.envelope as { commandId: string }).commandId); // aborted: unseen by a read_committed reader
    await Promise.all([first.close(), second.close()]);
  } finally {
    await bus.close();
    await topics.drop();
  }
});
