/**
 * What a slice's subscription returns: an async iterator fed by `push`, ended by the client (`return()`, when it
 * unsubscribes) or by the slice (`close()`). A value pushed as `conflatable` (a position) replaces a conflatable
 * one the client has not taken yet: latest wins, never reordered.
 */
export interface LiveQueue<T> {
  iterator: AsyncIterableIterator<T>;
  push(value: T, conflatable?: boolean): void;
  close(): void;
}

/** `onClose` runs once, whichever side ends it. */
export function createLiveQueue<T>(onClose: () => void): LiveQueue<T> {
  const queue: { value: T; conflatable: boolean }[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  const close = () => {
    if (done) return;
    done = true;
    onClose();
    wake?.();
  };
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      while (!queue.length && !done) await new Promise<void>((resolve) => (wake = resolve));
      return queue.length ? { value: queue.shift()!.value, done: false } : { value: undefined, done: true };
    },
    async return() {
      close();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return {
    iterator,
    close,
    push(value, conflatable = false) {
      if (conflatable && queue.at(-1)?.conflatable) queue[queue.length - 1] = { value, conflatable };
      else queue.push({ value, conflatable });
      wake?.();
    },
  };
}
