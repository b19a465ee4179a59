import { afterEach, describe, expect, it, vi } from 'vitest';
import { SystemError } from './errors.ts';
import { applyIsolating, type IsolationOptions } from './isolation.ts';

/** A fake store: applies numbers all or nothing, and refuses the poisoned ones. */
function harness(poisoned: number[], infrastructure: () => boolean = () => true) {
  const applied: number[] = [];
  const setAside: [number, string][] = [];
  const pauses: number[] = [];
  const options: IsolationOptions<number> = {
    async apply(messages) {
      const bad = messages.find((m) => poisoned.includes(m));
      if (bad !== undefined) throw new Error(`cannot store ${bad}`);
      applied.push(...messages);
    },
    async setAside(message, reason) {
      setAside.push([message, reason]);
    },
    infrastructureAnswers: async () => infrastructure(),
    async pause(ms) {
      pauses.push(ms);
      if (pauses.length > 50) throw new Error('given up by the test');
    },
  };
  return { options, applied, setAside, pauses };
}

afterEach(() => vi.useRealTimers());

describe('applying a batch that holds a poison message', () => {
  it('applies a healthy batch at once', async () => {
    const h = harness([]);
    await applyIsolating([1, 2, 3], h.options);
    expect(h.applied).toEqual([1, 2, 3]);
    expect(h.pauses).toEqual([]);
  });

  it('retries with growing pauses, then applies the others one by one and sets the poison aside with its reason', async () => {
    const h = harness([2]);
    await applyIsolating([1, 2, 3], h.options);
    expect(h.applied).toEqual([1, 3]);
    expect(h.setAside).toEqual([[2, 'cannot store 2']]);
    // 3 pauses before splitting the batch, 3 more before setting the message aside
    expect(h.pauses).toEqual([100, 200, 400, 100, 200, 400]);
  });

  it('never sets anything aside while the infrastructure does not answer: it waits', async () => {
    let down = 12;
    const h = harness([2], () => --down < 0);
    await applyIsolating([1, 2], h.options);
    expect(h.pauses.length).toBeGreaterThan(10);
    expect(Math.max(...h.pauses)).toBe(5_000);
    expect(h.setAside).toHaveLength(1);
  });

  it('does not wait for an error that cannot pass (a non-retriable SystemError)', async () => {
    const h = harness([]);
    h.options.apply = async (messages) => {
      if (messages.includes(7)) throw new SystemError('INVALID_MESSAGE', 'message value is not JSON');
      h.applied.push(...messages);
    };
    await applyIsolating([6, 7, 8], h.options);
    expect(h.applied).toEqual([6, 8]);
    expect(h.setAside).toEqual([[7, 'message value is not JSON (code INVALID_MESSAGE)']]);
    expect(h.pauses).toEqual([]);
  });

  it('never blames the data for an unanswered call (UNAVAILABLE), even while the infrastructure answers a probe', async () => {
    const h = harness([]);
    let calls = 0;
    h.options.apply = async (messages) => {
      calls += 1;
      if (calls <= 10) throw new SystemError('UNAVAILABLE', 'publishing 3 message(s) did not finish within 30 s', true);
      h.applied.push(...messages);
    };
    await applyIsolating([1, 2, 3], h.options);
    expect(h.setAside).toEqual([]);
    expect(h.applied).toEqual([1, 2, 3]);
    expect(h.pauses).toHaveLength(10);
  });

  it('takes a probe that does not answer within 5 s for infrastructure away: it waits, and sets nothing aside', async () => {
    vi.useFakeTimers();
    const h = harness([1], () => true);
    h.options.infrastructureAnswers = () => new Promise<boolean>(() => {});
    h.options.pause = async (ms) => {
      h.pauses.push(ms);
      if (h.pauses.length >= 6) throw new Error('given up by the test');
    };
    const outcome = applyIsolating([1], h.options).catch((error: Error) => error.message);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await outcome).toBe('given up by the test');
    expect(h.setAside).toEqual([]);
    expect(h.pauses).toHaveLength(6);
  });

  it('gives the batch up when pause throws (a rebalance, a stop)', async () => {
    const h = harness([1]);
    h.options.pause = async () => { throw new Error('rebalancing'); };
    await expect(applyIsolating([1], h.options)).rejects.toThrow('rebalancing');
    expect(h.setAside).toEqual([]);
  });
});
