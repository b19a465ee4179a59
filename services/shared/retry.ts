/**
 * The one way this runtime and the gateway wait between tries: pauses that double from `firstMs` up to `maxMs`.
 * No jitter: every caller is a process retrying its own call, and the tests pin the pauses.
 */
export type Backoff = { firstMs: number; maxMs: number };

/** The pause after the `failures`-th failure in a row (from 1): firstMs, twice that, and so on, at most maxMs. */
export function backoffMs(failures: number, { firstMs, maxMs }: Backoff): number {
  // The exponent bounded: past 2 ** 1023, 0 × Infinity would be NaN.
  return Math.min(firstMs * 2 ** Math.min(Math.max(0, failures - 1), 30), maxMs);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** A sleep that does not keep the process alive: for retries in the background, which a stopping process drops. */
export const backgroundSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export interface RetryOptions extends Backoff {
  /** Tries in all, the first included. Default: no bound. */
  attempts?: number;
  /** No try starts after this time (a Date.now() value). */
  until?: number;
  /** Whether another try may succeed where this failure failed. Default: every failure. */
  retriable?(error: unknown, failures: number): boolean | Promise<boolean>;
  /** How to wait before the next try; a pause that throws ends the retries with its error. Default: sleep. */
  pause?(ms: number, failures: number, error: unknown): Promise<void>;
}

/** `call`'s answer, tried again after each retriable failure until the attempts or the time run out; then its last error. */
export async function retry<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts = Infinity, until = Infinity, retriable = () => true, pause = sleep } = options;
  for (let failures = 1; ; failures += 1) {
    try {
      return await call();
    } catch (error) {
      if (failures >= attempts || Date.now() >= until || !(await retriable(error, failures))) throw error;
      await pause(backoffMs(failures, options), failures, error);
    }
  }
}
