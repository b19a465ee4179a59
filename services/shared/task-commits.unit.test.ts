import { describe, expect, it } from 'vitest';
import type { Forwarded, TaskProducer, Transaction } from './bus.ts';
import { SystemError } from './errors.ts';
import type { LogPosition } from './messages.ts';
import { commitMerged, type TaskWrite } from './task-commits.ts';

/** A task producer that records each transaction's writes and lets the test end it. */
function recordingTask() {
  const transactions: { messages: string[]; replies: string[]; consumed: string[]; end(error?: Error): void }[] = [];
  let offset = 0;
  const task: TaskProducer = {
    broken: false,
    close: async () => {},
    async transaction(work) {
      const record = { messages: [] as string[], replies: [] as string[], consumed: [] as string[], end: (_error?: Error) => {} };
      const ended = new Promise<void>((resolve, reject) => { record.end = (error) => (error ? reject(error) : resolve()); });
      transactions.push(record);
      const txn: Transaction = {
        async publish(messages) {
          record.messages.push(...messages.map((m) => String((m as Forwarded).key)));
          return messages.map((): LogPosition => ({ topic: 't', partition: 0, offset: String(offset++) }));
        },
        async publishReplies(replies) { record.replies.push(...replies.map((r) => r.commandId)); },
        async publishDeadLetter() {},
        consumed(group, topic, partition, next) { record.consumed.push(`${group}/${topic}/${partition}@${next}`); },
      };
      const result = await work(txn);
      await ended;
      return result;
    },
  };
  return { task, transactions };
}

const write = (keys: string[], next: number, extra: Partial<TaskWrite> = {}): TaskWrite => ({
  messages: keys.map((key) => ({ topic: 'repartition', key, value: Buffer.from(key), headers: {} })),
  consumed: { group: 'g', topic: 'in', partition: 0, next: BigInt(next) },
  ...extra,
});
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('commitMerged', () => {
  it('commits a lone write at once, and merges what arrives while a transaction runs into the next one', async () => {
    const { task, transactions } = recordingTask();
    const first = commitMerged(task, write(['a'], 1));
    await tick();
    expect(transactions).toHaveLength(1);
    const second = commitMerged(task, write(['b'], 2, { after: (positions) => ({ replies: [{ commandId: `b@${positions[0].offset}`, status: 'ACCEPTED', positions }] }) }));
    const third = commitMerged(task, write(['c', 'd'], 3));
    await tick();
    expect(transactions).toHaveLength(1); // b, c and d wait for a's transaction
    transactions[0].end();
    expect(await first).toEqual([{ topic: 't', partition: 0, offset: '0' }]);
    while (transactions.length < 2) await tick();
    expect(transactions[1].messages).toEqual(['b', 'c', 'd']);
    expect(transactions[1].replies).toEqual(['b@1']);
    expect(transactions[1].consumed).toEqual(['g/in/0@3']); // the later offset of the partition
    transactions[1].end();
    expect((await second).map((p) => p.offset)).toEqual(['1']);
    expect((await third).map((p) => p.offset)).toEqual(['2', '3']);
  });

  it('fails the writes queued behind a failed transaction too, telling each at once', async () => {
    const { task, transactions } = recordingTask();
    const failed: string[] = [];
    const first = commitMerged(task, write(['a'], 1, { failed: () => failed.push('a') }));
    await tick();
    const behind = commitMerged(task, write(['b'], 2, { failed: () => failed.push('b') }));
    transactions[0].end(new SystemError('UNAVAILABLE', 'the broker went away', true));
    await expect(first).rejects.toThrow('the broker went away');
    await expect(behind).rejects.toThrow(/a transaction of the same task before it failed/);
    expect(failed).toEqual(['a', 'b']);
    // The task goes on with what comes next.
    const after = commitMerged(task, write(['c'], 3));
    while (transactions.length < 2) await tick();
    transactions[1].end();
    expect((await after).map((p) => p.offset)).toHaveLength(1);
  });

  it('commits a write marked alone in a transaction of its own', async () => {
    const { task, transactions } = recordingTask();
    const writes = [commitMerged(task, write(['a'], 1)), commitMerged(task, write(['b'], 2, { alone: true })), commitMerged(task, write(['c'], 3))];
    for (let i = 0; i < 3; i += 1) {
      while (transactions.length < i + 1) await tick();
      transactions[i].end();
    }
    await Promise.all(writes);
    expect(transactions.map((t) => t.messages)).toEqual([['a'], ['b'], ['c']]);
  });
});

describe('commitMerged, offsets', () => {
  it('never moves a partition back: an offsets-only write behind what the task was handed is dropped', async () => {
    const { task, transactions } = recordingTask();
    const batch = commitMerged(task, write(['a'], 55));
    const lateSkip = commitMerged(task, write([], 50)); // a skip past markers fired before that batch, arriving after it
    expect(await lateSkip).toEqual([]);
    while (transactions.length < 1) await tick();
    transactions[0].end();
    await batch;
    const aheadSkip = commitMerged(task, write([], 60));
    while (transactions.length < 2) await tick();
    transactions[1].end();
    await aheadSkip;
    expect(transactions.map((t) => t.consumed)).toEqual([['g/in/0@55'], ['g/in/0@60']]);
  });
});

describe('commitMerged, offsets after a failure', () => {
  it('takes the retry of a failed offsets-only write', async () => {
    const { task, transactions } = recordingTask();
    const skip = commitMerged(task, write([], 50));
    while (transactions.length < 1) await tick();
    transactions[0].end(new Error('the broker went away'));
    await expect(skip).rejects.toThrow('the broker went away');
    const retry = commitMerged(task, write([], 50));
    while (transactions.length < 2) await tick();
    transactions[1].end();
    await retry;
    expect(transactions[1].consumed).toEqual(['g/in/0@50']);
  });
});
