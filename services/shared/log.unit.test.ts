import { afterEach, describe, expect, it, vi } from 'vitest';
import { STILL_WAITING_EVERY_MS, waitingOn, type Logger } from './log.ts';

afterEach(() => vi.useRealTimers());

describe('waitingOn', () => {
  it('warns while a step has not settled, says what it waits on, and stops once it has', async () => {
    vi.useFakeTimers();
    const warnings: string[] = [];
    const log: Logger = { info: () => {}, warn: (m) => warnings.push(m), error: () => {} };
    let finish!: (value: number) => void;
    const waited = waitingOn(log, 'publishing 2 event(s) decided from orders.commands/0', new Promise<number>((resolve) => (finish = resolve)));
    await vi.advanceTimersByTimeAsync(2 * STILL_WAITING_EVERY_MS + 1);
    expect(warnings).toEqual([
      'publishing 2 event(s) decided from orders.commands/0: still waiting after 15 s',
      'publishing 2 event(s) decided from orders.commands/0: still waiting after 30 s',
    ]);
    finish(7);
    await expect(waited).resolves.toBe(7);
    await vi.advanceTimersByTimeAsync(3 * STILL_WAITING_EVERY_MS);
    expect(warnings).toHaveLength(2);
  });

  it('passes a failure on, and stops warning', async () => {
    vi.useFakeTimers();
    const warnings: string[] = [];
    const log: Logger = { info: () => {}, warn: (m) => warnings.push(m), error: () => {} };
    await expect(waitingOn(log, 'x', Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await vi.advanceTimersByTimeAsync(3 * STILL_WAITING_EVERY_MS);
    expect(warnings).toEqual([]);
  });
});
