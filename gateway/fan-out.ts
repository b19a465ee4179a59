/**
 * The fan-out: one live event to many subscribers. Each subscriber runs its own subscribe resolver (authorization,
 * current state first), but pushed events are gathered per operation: executed and serialized once, then written
 * to every subscriber in slices with I/O let in between. A conflatable event (an entity's whole state, a position)
 * replaces the subscriber's previous frame when that one is conflatable too and not written yet: a subscriber the
 * writes have not reached gets the latest state, not each one before it, in order. Knows nothing of sockets or GraphQL.
 */
import { PUSH_TO, type PushTarget } from '../services/shared/graphql/index.ts';

/** Subscribers written to before a fan-out lets I/O in (3-5 ms of writes). */
export const WRITES_PER_SLICE = 256;

export interface Subscriber {
  /** What decides an event's payload besides the event (document text, operation name, variables): shared by it. */
  operation: string;
  /** The payload text for one event; run once per event and operation. A rejection ends the subscription with it. */
  execute(event: unknown): Promise<string>;
  /** Writes the subscriber's payloads, in order; several go out in one write. */
  write(payloads: string[]): void;
  /** Runs once when the subscription ends, however it ends. */
  ended(): void;
}

/** A subscriber as a drain sees it: where its frames go, whether it still listens, how a failure ends it. */
type Recipient = Pick<Subscriber, 'write'> & { live: boolean; fail(error: unknown): void };

/** An operation's events waiting to be written, in push order; an entry with `then` is a subscription ending there. */
interface Unwritten {
  execute: (event: unknown) => Promise<string>;
  events: { event: unknown; conflatable: boolean; to: Recipient[]; then?: () => void }[];
  /**
   * Per subscriber, in the order they were first reached: the payloads executed but not written yet (whether the
   * last may be replaced), and an ending to run after them.
   */
  pending: Map<Recipient, { payloads: string[]; lastConflatable: boolean; then?: () => void }>;
}

export function createFanOut() {
  // Per event (released with it), the payload of each operation that received it.
  const shared = new WeakMap<object, Map<string, Promise<string>>>();
  // Per operation: its events not written yet, in the order they were pushed, each with the subscribers it reached.
  const unwritten = new Map<string, Unwritten>();

  /** An event's payload for operation `key`, executed once per event and operation. */
  function payloadFor(queue: Unwritten, key: string, event: unknown): Promise<string> {
    if (typeof event !== 'object' || event === null) return queue.execute(event); // no identity to share it by
    if (!shared.has(event)) shared.set(event, new Map());
    const payloads = shared.get(event)!;
    if (!payloads.has(key)) payloads.set(key, queue.execute(event));
    return payloads.get(key)!;
  }

  /** An event pushed to one subscriber of `key`: the subscribers it reaches in this turn of the event loop are gathered. */
  function deliver(execute: Unwritten['execute'], key: string, event: unknown, conflatable: boolean, recipient: Recipient): void {
    const queue = queueOf(execute, key);
    let last = queue.events.at(-1);
    if (!last || last.event !== event || last.then || last.conflatable !== conflatable) {
      last = { event, conflatable, to: [] };
      queue.events.push(last);
    }
    last.to.push(recipient);
  }

  /** Runs `then` once the frames already on their way to `recipient` for operation `key` are written (at once when none are). */
  function afterWrites(key: string, recipient: Recipient, then: () => void): void {
    const queue = unwritten.get(key);
    if (queue) queue.events.push({ event: undefined, conflatable: false, to: [recipient], then });
    else then();
  }

  function queueOf(execute: Unwritten['execute'], key: string): Unwritten {
    const known = unwritten.get(key);
    if (known) return known;
    const queue: Unwritten = { execute, events: [], pending: new Map() };
    unwritten.set(key, queue);
    setImmediate(() => void drain(key, queue));
    return queue;
  }

  /**
   * Writes an operation's events in push order, in slices of WRITES_PER_SLICE. An event arriving meanwhile (an
   * order's verdicts while its creation goes out to 10,000 sockets) joins the frames of the subscribers not reached yet.
   */
  async function drain(key: string, queue: Unwritten): Promise<void> {
    const { pending } = queue;
    try {
      while (queue.events.length || pending.size) {
        // New events execute while the subscribers already due are written; their frames join once they settle.
        const collecting = queue.events.length ? collect(key, queue) : undefined;
        let written = 0;
        for (const [recipient, frames] of pending) {
          if (written++ === WRITES_PER_SLICE) break;
          pending.delete(recipient);
          if (recipient.live) recipient.write(frames.payloads); // not if its client completed it meanwhile
          frames.then?.();
        }
        if (collecting) await collecting;
        else if (pending.size) await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      // A bug, not a client's doing: the operation's subscriptions end with it rather than wait for frames for ever.
      for (const recipient of [...pending.keys(), ...queue.events.flatMap(({ to }) => to)]) recipient.fail(error);
    } finally {
      unwritten.delete(key);
    }
  }

  /** Executes the operation's events waiting in `queue.events` (once each) and adds their payloads to each subscriber's pending frames. */
  async function collect(key: string, queue: Unwritten): Promise<void> {
    const events = queue.events.splice(0);
    const payloads = await Promise.allSettled(events.map(({ event, then }) => (then ? undefined : payloadFor(queue, key, event))));
    events.forEach(({ to, then, conflatable }, i) => {
      const result = payloads[i];
      for (const recipient of to) {
        const frames = queue.pending.get(recipient);
        /** Runs `next` after the subscriber's frames pushed before it (at once when they are written already). */
        const afterItsFrames = (next: () => void) => {
          const before = frames?.then;
          if (!frames) next();
          else frames.then = before ? () => { before(); next(); } : next;
        };
        if (then) afterItsFrames(then); // an ending
        else if (result.status === 'rejected') afterItsFrames(() => recipient.fail(result.reason)); // a failed execution ends the subscription
        else if (!recipient.live || result.value === undefined) continue;
        // Shared payload texts: a subscriber's frames are made one by one as they are written.
        else if (frames && conflatable && frames.lastConflatable && !frames.then) frames.payloads[frames.payloads.length - 1] = result.value;
        else if (frames) {
          frames.payloads.push(result.value);
          frames.lastConflatable = conflatable;
        } else queue.pending.set(recipient, { payloads: [result.value], lastConflatable: conflatable });
      }
    });
  }

  /**
   * Delivers `source`'s events per operation. The iterator returned yields nothing: its first `next()` (once
   * graphql-ws registered the subscription) starts it, and it settles when the subscription ends.
   */
  function subscribe(source: AsyncGenerator<unknown>, { operation: key, execute, write, ended }: Subscriber): AsyncGenerator<never> {
    let finish!: (result: IteratorResult<never>) => void;
    let fail!: (error: unknown) => void;
    const finished = new Promise<IteratorResult<never>>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    finished.catch(() => {}); // graphql-ws awaits it; this keeps an ending nobody awaits yet from being "unhandled"
    /** Ends the subscription, with `error` or complete; whichever ending comes first counts. */
    const close = (error?: unknown) => {
      if (recipient.live) ended();
      recipient.live = false;
      if (error === undefined) finish({ done: true, value: undefined });
      else fail(error);
    };
    const recipient: Recipient = {
      write,
      live: true,
      fail(error) {
        close(error); // first: ending the feed below would end the subscription without its error
        void source.return(undefined);
      },
    };
    const pushTo = (source as { [PUSH_TO]?: (target: PushTarget<unknown>) => void })[PUSH_TO];
    const takeAsPushed = pushTo ? pushTo.bind(source) : (target: PushTarget<unknown>) => void pump(source, target);
    let taken = false;
    const stop = async () => {
      close();
      await source.return(undefined);
    };
    const iterator = {
      next() {
        if (!taken) {
          taken = true;
          takeAsPushed({
            value: (event, conflatable) => deliver(execute, key, event, conflatable, recipient),
            // The feed ended it: after the frames it pushed before, so `complete` never overtakes a `next`.
            end: (failure) => afterWrites(key, recipient, () => close(failure)),
          });
        }
        return finished;
      },
      return: () => stop().then(() => ({ done: true, value: undefined }) as const),
      throw: (error: unknown) => stop().then(() => Promise.reject(error)),
      [Symbol.asyncIterator]: () => iterator,
      [Symbol.asyncDispose]: stop, // `await using` on it ends the subscription, as `return()` does
    };
    return iterator as AsyncGenerator<never>;
  }

  return { subscribe };
}

/** A source that is not a LiveQueue, read in a loop and handed on as if pushed. */
async function pump(events: AsyncGenerator<unknown>, target: PushTarget<unknown>): Promise<void> {
  try {
    for await (const event of events) target.value(event, false);
    target.end();
  } catch (error) {
    target.end(error);
  }
}
