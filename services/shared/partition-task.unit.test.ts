import { describe, expect, it } from 'vitest';
import type { ServiceMemory } from './batch.ts';
import { partitionOfKey, type TaskProducer } from './bus.ts';
import type { Logger } from './log.ts';
import { homeOf, nextOffsetAfter, notCommitted, ReaderTasks } from './partition-task.ts';

const quiet: Logger = { info() {}, warn() {}, error() {} };
const memory = (): ServiceMemory<unknown> => ({ states: new Map(), handled: new Map() });

/** Task producers that record which were connected and closed; `broken` is set by the test. */
function producers() {
  const made: { slot: number; broken: boolean; closed: boolean }[] = [];
  let refuse = false;
  const connect = async (slot: number): Promise<TaskProducer> => {
    if (refuse) throw new Error('the broker went away');
    const record = { slot, broken: false, closed: false };
    made.push(record);
    return {
      get broken() { return record.broken; },
      close: async () => { record.closed = true; },
      transaction: async () => { throw new Error('not in these tests'); },
    };
  };
  return { made, connect, refuse: (value: boolean) => { refuse = value; } };
}

describe('a task producer', () => {
  it('is connected once and used again while it is whole', async () => {
    const { made, connect } = producers();
    const tasks = new ReaderTasks(connect, quiet);
    const [a, b] = await Promise.all([tasks.producer(1), tasks.producer(1)]);
    expect(a).toBe(b);
    expect(made).toHaveLength(1);
  });

  it('once broken, is replaced only after the group confirms the task is this member\'s', async () => {
    const { made, connect } = producers();
    const tasks = new ReaderTasks(connect, quiet);
    await tasks.producer(1);
    made[0].broken = true;
    // Without a confirmation (a skip past markers): a zombie must not fence the task's new owner.
    await expect(tasks.producer(1)).rejects.toMatchObject({ code: 'UNAVAILABLE', retriable: true });
    expect(made).toHaveLength(1);
    const confirmed: string[] = [];
    const replacement = await tasks.producer(1, async () => { confirmed.push('heartbeat'); });
    expect(confirmed).toEqual(['heartbeat']);
    expect(made.map(({ closed }) => closed)).toEqual([true, false]);
    expect(replacement.broken).toBe(false);
  });

  it('is not replaced twice when two batches find it broken at once', async () => {
    const { made, connect } = producers();
    const tasks = new ReaderTasks(connect, quiet);
    await tasks.producer(1);
    made[0].broken = true;
    const confirm = () => new Promise<void>((resolve) => setImmediate(resolve));
    const [a, b] = await Promise.all([tasks.producer(1, confirm), tasks.producer(1, confirm)]);
    expect(a).toBe(b);
    expect(made).toHaveLength(2);
  });

  it('that could not connect is tried again by the next batch', async () => {
    const { made, connect, refuse } = producers();
    const tasks = new ReaderTasks(connect, quiet);
    refuse(true);
    await expect(tasks.producer(1)).rejects.toThrow('the broker went away');
    refuse(false);
    await tasks.producer(1);
    expect(made).toHaveLength(1);
  });
});

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('a join', () => {
  it('fences every assigned task at once, replacing a producer broken before it: the join confirms the task', async () => {
    const { made, connect } = producers();
    const tasks = new ReaderTasks(connect, quiet);
    tasks.join('m1', new Set([0, 1]));
    await tick();
    expect(made.map(({ slot }) => slot)).toEqual([0, 1]);
    made[0].broken = true; // this member was the zombie, and got the task back
    tasks.join('m1', new Set([0, 1]));
    await tick();
    expect(made.map(({ slot, closed }) => [slot, closed])).toEqual([[0, true], [1, false], [0, false]]);
  });

  it('drops the tasks no longer assigned (states, restores, uncertainty, producer) and keeps the others', async () => {
    const { made, connect } = producers();
    const tasks = new ReaderTasks(connect, quiet);
    tasks.join('m1', new Set([0, 1]));
    await tick();
    for (const slot of [0, 1]) {
      tasks.at(slot).memories.set('orders', memory());
      tasks.at(slot).uncertain.add(`in:${slot}`);
    }
    expect(tasks.holding()).toEqual([0, 1]);
    expect(tasks.join('m1', new Set([0]))).toEqual({ lost: [1], renewed: false });
    await tick();
    expect(made.map(({ closed }) => closed)).toEqual([false, true]);
    expect(tasks.holding()).toEqual([0]);
    expect(tasks.at(1).uncertain.size).toBe(0);
    expect(tasks.at(0).uncertain).toEqual(new Set(['in:0']));
  });

  it('as a new member (expelled meanwhile, or a zombie woken) trusts nothing it held, though the tasks are the same', async () => {
    const { made, connect } = producers();
    const tasks = new ReaderTasks(connect, quiet);
    tasks.join('m1', new Set([0]));
    await tick();
    tasks.at(0).memories.set('orders', memory());
    expect(tasks.join('m2', new Set([0]))).toEqual({ lost: [0], renewed: true });
    expect(tasks.holding()).toEqual([]);
    await tick();
    expect(made.map(({ closed }) => closed)).toEqual([true, false]); // fenced anew
  });

  it('names as lost only the tasks that held something', () => {
    const tasks = new ReaderTasks(producers().connect, quiet);
    tasks.at(1).uncertain.add('in:1');
    expect(tasks.join('m1', new Set([0]))).toEqual({ lost: [], renewed: false });
    expect(tasks.at(1).uncertain.size).toBe(0);
  });
});

describe('restoring', () => {
  it('restores every assigned partition a service lacks in one pass, which the others\' batches wait for', async () => {
    const tasks = new ReaderTasks(producers().connect, quiet);
    tasks.join('m1', new Set([0, 1, 2]));
    tasks.at(2).memories.set('orders', memory());
    const passes: number[][] = [];
    let finish = () => {};
    const restore = (slots: number[], keep: (read: Map<number, ServiceMemory<unknown>>) => void) => {
      passes.push(slots);
      return new Promise<void>((resolve) => { finish = () => { keep(new Map(slots.map((s) => [s, memory()]))); resolve(); }; });
    };
    const first = tasks.restored('orders', 0, restore);
    const second = tasks.restored('orders', 1, restore);
    expect(passes).toEqual([[0, 1]]);
    finish();
    await Promise.all([first, second]);
    expect(tasks.holding().sort()).toEqual([0, 1, 2]);
    expect(tasks.at(0).restoring.size).toBe(0);
    await tasks.restored('orders', 0, restore); // held: no pass
    expect(passes).toHaveLength(1);
  });

  it('keeps what a restore read only if no join came since, and only of partitions still assigned', async () => {
    const tasks = new ReaderTasks(producers().connect, quiet);
    tasks.join('m1', new Set([0, 1]));
    const keeps: ((read: Map<number, ServiceMemory<unknown>>) => void)[] = [];
    const restore = async (_: number[], keep: (typeof keeps)[number]) => void keeps.push(keep);
    await tasks.restored('orders', 0, restore);
    keeps[0](new Map([[0, memory()], [5, memory()]]));
    expect(tasks.holding()).toEqual([0]);
    await tasks.restored('inventory', 1, restore);
    tasks.join('m1', new Set([0, 1]));
    keeps[1](new Map([[1, memory()]])); // begun before the join: this member may no longer own what it read
    expect(tasks.holding()).toEqual([0]);
  });
});

describe('a failed transaction', () => {
  it('drops the states it was decided on, and leaves its topic partition uncertain if its producer broke', () => {
    const tasks = new ReaderTasks(producers().connect, quiet);
    tasks.at(0).memories.set('orders', memory());
    tasks.at(0).memories.set('inventory', memory());
    tasks.failed(0, ['orders'], 'in:0', false);
    expect([...tasks.at(0).memories.keys()]).toEqual(['inventory']);
    expect(tasks.at(0).uncertain.size).toBe(0);
    tasks.failed(0, ['inventory'], 'in:0', true);
    expect(tasks.at(0).uncertain).toEqual(new Set(['in:0']));
  });
});

describe('the repartition hop', () => {
  const partitions = 4;
  const keyOf = (slot: number) => Array.from({ length: 100 }, (_, i) => `k${i}`).find((key) => partitionOfKey(key, partitions) === slot)!;

  it('is skipped for an input whose state is the task\'s own, and taken for one of another partition, held here or not', () => {
    const own = memory();
    const home = homeOf(1, own, (key) => partitionOfKey(key, partitions));
    expect(home(keyOf(1))).toBe(own);
    expect(home(keyOf(2))).toBeUndefined();
  });

  it('is never taken by a single aggregate: every key is its one task\'s', () => {
    const own = memory();
    const home = homeOf(0, own, () => 0);
    expect(home(keyOf(0))).toBe(own);
    expect(home(keyOf(3))).toBe(own);
  });
});

describe('after a transaction without a known outcome', () => {
  const inputs = (...offsets: number[]) => offsets.map((offset) => ({ message: { offset: String(offset) } }));

  it('decides only the inputs the group\'s committed offset has not passed, whatever batch they come in', () => {
    expect(notCommitted(inputs(5, 6, 6, 7), 7n)).toEqual(inputs(7));
    expect(notCommitted(inputs(3, 4, 5, 6, 7, 8), 7n)).toEqual(inputs(7, 8)); // a longer batch fetched after a rejoin
    expect(notCommitted(inputs(5, 6), 7n)).toEqual([]);
  });

  it('decides them all when the transaction did not land, or the group has no offset', () => {
    expect(notCommitted(inputs(5, 6), 5n)).toEqual(inputs(5, 6));
    expect(notCommitted(inputs(5, 6), undefined)).toEqual(inputs(5, 6));
  });
});

describe('where the group reads on from', () => {
  // Records 10 and 11 are read by two services each, record 12 by one: five inputs.
  const inputs = [10, 10, 11, 11, 12].map((offset, i) => ({ message: { offset: String(offset) }, i }));

  it('is past the last record all of whose inputs are decided', () => {
    expect(nextOffsetAfter(inputs, inputs.slice(0, 2), 20n)).toBe(11n);
    expect(nextOffsetAfter(inputs, inputs.slice(0, 4), 20n)).toBe(12n);
  });

  it('stays at a record only some of whose inputs are decided (one set aside alone, say)', () => {
    expect(nextOffsetAfter(inputs, [inputs[2]], 20n)).toBe(11n);
  });

  it('is the end of the batch, past its transaction markers, once its last input is decided', () => {
    expect(nextOffsetAfter(inputs, [inputs[4]], 20n)).toBe(20n);
  });
});
