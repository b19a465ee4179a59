/**
 * Applying a fetched batch so that no message holds its partition forever. While the infrastructure is away the
 * batch is retried as long as it takes; when it keeps failing although it answers, each message is tried alone and
 * one that still fails is set aside on `dead.letters`.
 */
import { SystemError, withinTime } from './errors.ts';
import { backoffMs } from './retry.ts';

export interface IsolationOptions<M> {
  /** Applies messages in order, all or nothing. */
  apply(messages: M[]): Promise<void>;
  /** Records a message that cannot be applied, and moves past it. */
  setAside(message: M, reason: string): Promise<void>;
  /** Whether the broker or database the batch needs answers at all: if not, the data is not to blame. */
  infrastructureAnswers(): Promise<boolean>;
  /** Waits before the next attempt (heartbeating meanwhile); throws to give the batch up (rebalance, stop). */
  pause(ms: number, attempt: number, error: unknown): Promise<void>;
  /** Attempts before a batch is split, or a message set aside, once the infrastructure answers. Default 4. */
  attempts?: number;
}

/** How long the infrastructure may take to answer `infrastructureAnswers`; no answer in time is "no". */
const PROBE_TIMEOUT_MS = 5_000;

const answers = <M>(options: IsolationOptions<M>) =>
  withinTime(PROBE_TIMEOUT_MS, 'asking whether the infrastructure answers', options.infrastructureAnswers()).catch(() => false);

/** 100 ms, 200 ms, 400 ms, … at most 5 s. */
const PAUSES = { firstMs: 100, maxMs: 5_000 };

export async function applyIsolating<M>(messages: M[], options: IsolationOptions<M>): Promise<void> {
  const attempts = options.attempts ?? 4;

  /** Resolves with undefined once applied, or with the error once it is clearly the messages' fault. */
  async function attempt(group: M[]): Promise<unknown> {
    for (let failures = 1; ; failures += 1) {
      try {
        await options.apply(group);
        return undefined;
      } catch (error) {
        // A non-retriable SystemError (e.g. an unreadable message) will fail the same way again: no need to wait.
        const permanent = error instanceof SystemError && !error.retriable;
        // UNAVAILABLE names the infrastructure itself (a call to the broker that went unanswered, withinTime): however
        // well the broker answers a probe, the data is not to blame, so the batch waits as long as it takes.
        const unavailable = error instanceof SystemError && error.code === 'UNAVAILABLE';
        if (!unavailable && (permanent || failures >= attempts) && (await answers(options))) return error;
        await options.pause(backoffMs(failures, PAUSES), failures, error);
      }
    }
  }

  const failure = await attempt(messages);
  if (failure === undefined) return;
  if (messages.length === 1) return options.setAside(messages[0], reasonOf(failure));
  for (const message of messages) {
    const error = await attempt([message]);
    if (error !== undefined) await options.setAside(message, reasonOf(error));
  }
}

/** One line for a log or a header: Prisma's messages quote the calling source first and end with the cause. */
export function reasonOf(error: unknown): string {
  const { message, code } = error as { message?: string; code?: string };
  const text = (message ?? String(error)).split('\n').map((line) => line.trim()).filter(Boolean).at(-1) ?? 'unknown error';
  return code && !text.includes(code) ? `${text} (code ${code})` : text;
}
