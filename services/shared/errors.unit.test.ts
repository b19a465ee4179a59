import { afterEach, expect, it, vi } from 'vitest';
import { SystemError, withinTime } from './errors.ts';

afterEach(() => vi.useRealTimers());

it('withinTime fails work that has not settled in time with a retriable UNAVAILABLE that says what hung', async () => {
  vi.useFakeTimers();
  const never = new Promise<number>(() => {});
  const bounded = withinTime(30_000, 'reading the offsets of orders.events', never).catch((error: unknown) => error);
  await vi.advanceTimersByTimeAsync(29_999);
  let settled = false;
  void bounded.then(() => (settled = true));
  await vi.advanceTimersByTimeAsync(0);
  expect(settled).toBe(false);
  await vi.advanceTimersByTimeAsync(1);
  const error = await bounded;
  expect(error).toBeInstanceOf(SystemError);
  expect(error).toMatchObject({ code: 'UNAVAILABLE', retriable: true, message: 'reading the offsets of orders.events did not finish within 30 s' });
});

it('withinTime passes on what settles in time, value or failure, and leaves no timer behind', async () => {
  vi.useFakeTimers();
  await expect(withinTime(1_000, 'x', Promise.resolve(7))).resolves.toBe(7);
  await expect(withinTime(1_000, 'x', Promise.reject(new Error('refused')))).rejects.toThrow('refused');
  expect(vi.getTimerCount()).toBe(0);
});
