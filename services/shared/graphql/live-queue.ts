/**
 * What a slice's subscription returns: an async iterator fed by `push`, ended by `return()` or `close()`. A
 * `conflatable` value (a position) replaces one not taken yet. Past `maxQueued` values the subscription ends with
 * SLOW_CONSUMER. With `PUSH_TO` nothing waits here: the socket's buffer bounds a slow client instead.
 */
import { SystemError } from '../errors.ts';

/** Where a queue's values go once the gateway takes them as they are pushed: each value, then the end. */
export interface PushTarget<T> {
  /** `conflatable`: the value may replace the previous one when that one is also conflatable and not written yet. */
  value(value: T, conflatable: boolean): void;
  end(failure?: unknown): void;
}

/** On a LiveQueue's iterator: `iterator[PUSH_TO](target)` hands what waits, then every value pushed, to `target`. */
export const PUSH_TO = Symbol('live queue: push to');

export interface LiveQueue<T> {
  iterator: AsyncIterableIterator<T>;
  push(value: T, conflatable?: boolean): void;
  close(): void;
}

/** Values one subscriber may have waiting (conflated positions count once). */
export const MAX_QUEUED_VALUES = 1000;

/** `onClose` runs once, whichever side ends it. */
export function createLiveQueue<T>(onClose: () => void, maxQueued = MAX_QUEUED_VALUES): LiveQueue<T> {
  const queue: { value: T; conflatable: boolean }[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let failure: SystemError | undefined;
  let target: PushTarget<T> | undefined;
  const close = () => {
    if (done) return;
    done = true;
    onClose();
    wake?.();
    target?.end(failure);
  };
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      while (!queue.length && !done) await new Promise<void>((resolve) => (wake = resolve));
      if (queue.length) return { value: queue.shift()!.value, done: false };
      if (failure) {
        const error = failure;
        failure = undefined; // thrown once; then the iterator is simply done
        throw error;
      }
      return { value: undefined, done: true };
    },
    async return() {
      close();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  Object.defineProperty(iterator, PUSH_TO, {
    value(to: PushTarget<T>) {
      for (const { value, conflatable } of queue.splice(0)) to.value(value, conflatable);
      if (done) to.end(failure);
      else target = to;
    },
  });
  return {
    iterator,
    close,
    push(value, conflatable = false) {
      if (done) return;
      if (target) return target.value(value, conflatable);
      if (conflatable && queue.at(-1)?.conflatable) queue[queue.length - 1] = { value, conflatable };
      else queue.push({ value, conflatable });
      if (queue.length > maxQueued) {
        queue.length = 0;
        failure = new SystemError('SLOW_CONSUMER', `more than ${maxQueued} updates were waiting for this subscriber: it was ended; subscribe again once you read faster`, true, { max: maxQueued });
        close();
      }
      wake?.();
    },
  };
}
