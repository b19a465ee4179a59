import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, retry } from './retry.ts';

afterEach(() => vi.useRealTimers());

describe('the pause between tries', () => {
  it('doubles from the first pause up to the longest', () => {
    const pauses = [1, 2, 3, 4, 5, 6, 7].map((failures) => backoffMs(failures, { firstMs: 100, maxMs: 5_000 }));
    expect(pauses).toEqual([100, 200, 400, 800, 1_600, 3_200, 5_000]);
  });

  it('stays at the longest however many failures came before', () => {
    expect(backoffMs(10_000, { firstMs: 20, maxMs: 100 })).toBe(100);
    expect(backoffMs(10_000, { firstMs: 0, maxMs: 100 })).toBe(0);
  });
});

/** A call that fails `failures` times, then answers 'done'. */
function failing(failures: number, error: unknown = new Error('not yet')) {
  const call = vi.fn(async () => {
    if (call.mock.calls.length <= failures) throw error;
    return 'done';
  });
  return call;
}

describe('retrying a call', () => {
  it('answers as soon as a try succeeds, after doubling pauses', async () => {
    const pauses: number[] = [];
    const call = failing(3);
    const answer = await retry(call, { firstMs: 10, maxMs: 25, pause: async (ms) => void pauses.push(ms) });
    expect(answer).toBe('done');
    expect(call).toHaveBeenCalledTimes(4);
    expect(pauses).toEqual([10, 20, 25]);
  });

  it('waits the pauses by default', async () => {
    vi.useFakeTimers();
    const call = failing(2);
    const answer = retry(call, { firstMs: 100, maxMs: 1_000 });
    await vi.advanceTimersByTimeAsync(99);
    expect(call).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(call).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(200);
    expect(await answer).toBe('done');
  });

  it('throws the last error once the attempts are spent', async () => {
    const call = failing(10, new Error('still down'));
    await expect(retry(call, { firstMs: 0, maxMs: 0, attempts: 3 })).rejects.toThrow('still down');
    expect(call).toHaveBeenCalledTimes(3);
  });

  it('throws at once a failure that is not retriable', async () => {
    const refused = new Error('refused');
    const call = failing(10, refused);
    const retriable = vi.fn((error: unknown) => error !== refused);
    await expect(retry(call, { firstMs: 0, maxMs: 0, retriable })).rejects.toBe(refused);
    expect(call).toHaveBeenCalledTimes(1);
    expect(retriable).toHaveBeenCalledWith(refused, 1);
  });

  it('asks an asynchronous judge how many failures came so far', async () => {
    const seen: number[] = [];
    const call = failing(10);
    const retriable = async (_: unknown, failures: number) => (seen.push(failures), failures < 4);
    await expect(retry(call, { firstMs: 0, maxMs: 0, retriable })).rejects.toThrow('not yet');
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('starts no try after its time is up', async () => {
    vi.useFakeTimers();
    const call = failing(100);
    const failed = retry(call, { firstMs: 100, maxMs: 100, until: Date.now() + 1_000 }).catch((error: Error) => error);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await failed).toMatchObject({ message: 'not yet' });
    expect(call).toHaveBeenCalledTimes(11); // at 0, 100, … 1,000 ms
  });

  it('ends with the error of a pause that throws (a stop, a rebalance)', async () => {
    const call = failing(10);
    const pause = async () => { throw new Error('stopping'); };
    await expect(retry(call, { firstMs: 0, maxMs: 0, pause })).rejects.toThrow('stopping');
    expect(call).toHaveBeenCalledTimes(1);
  });
});
