/**
 * Knows how far each projector has applied each topic partition, from the notifications projectors send
 * when a batch commits, so the gateway can wait until a command's events are visible to queries.
 */
import pg from 'pg';
import type { ProjectionWatcher } from '../services/shared/graphql/index.ts';
import { PROGRESS_CHANNEL, type ProjectionProgress } from '../services/shared/projector.ts';
import type { LogPosition } from '../services/shared/messages.ts';
import { SystemError } from '../services/shared/errors.ts';
import { keepListening } from './listen.ts';

interface Waiter {
  key: string;
  offset: bigint;
  resolve(): void;
}

// A safety net for a lost notification (e.g. while the LISTEN connection reconnects).
const POLL_INTERVAL_MS = 500;
/** The first wait before listening again after the LISTEN connection failed; twice as long after each failure, up to 10 s. */
const RELISTEN_MS = 500;

export async function createProjectionWatcher(databaseUrl: string, { pollIntervalMs = POLL_INTERVAL_MS } = {}): Promise<ProjectionWatcher> {
  const applied = new Map<string, bigint>(); // projector|topic|partition -> next offset
  // Keys whose every later commit is announced on the current LISTEN connection (heard on it, or read after it
  // listened): `applied` is current for them up to notifications in flight, so waiting needs no query.
  let tracked = new Set<string>();
  let waiters: Waiter[] = [];
  const query = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // An idle connection the server dropped (a restart, pg_terminate_backend): the pool replaces it on next use.
  // Without a listener the 'error' event would end the process.
  query.on('error', () => {});

  const keyOf = (projector: string, topic: string, partition: number) => `${projector}|${topic}|${partition}`;

  function advance(key: string, next: bigint) {
    if ((applied.get(key) ?? -1n) >= next) return;
    applied.set(key, next);
    waiters = waiters.filter((w) => {
      if (w.key !== key || w.offset >= next) return true;
      w.resolve();
      return false;
    });
  }

  async function refresh(keys: string[]) {
    if (!keys.length) return;
    const listening = listener.connection();
    const { rows } = await query.query<{ projector: string; topic: string; partition: number; next_offset: string }>(
      `SELECT projector, topic, partition, next_offset FROM projection_offsets
       WHERE projector || '|' || topic || '|' || partition = ANY($1)`,
      [keys],
    );
    for (const row of rows) advance(keyOf(row.projector, row.topic, row.partition), BigInt(row.next_offset));
    if (listening && listener.connection() === listening) for (const key of keys) tracked.add(key);
  }

  const listener = keepListening(databaseUrl, PROGRESS_CHANNEL, { firstMs: RELISTEN_MS, maxMs: 10_000 }, {
    heard(payload, current) {
      const progress = JSON.parse(payload) as ProjectionProgress;
      const key = keyOf(progress.projector, progress.topic, progress.partition);
      advance(key, BigInt(progress.nextOffset));
      if (current) tracked.add(key);
    },
    // What is announced while no connection listens is lost: until the next LISTEN, waits fall back to the poll.
    listening: () => { tracked = new Set(); },
    lost: () => { tracked = new Set(); },
  });
  await listener.listen();
  const poll = setInterval(() => {
    void refresh([...new Set(waiters.map((w) => w.key))]).catch(() => {});
  }, pollIntervalMs);
  poll.unref();

  return {
    async reached(projectors, position, timeoutMs) {
      const offset = BigInt(position.offset);
      const pending = projectors
        .map((projector) => keyOf(projector, position.topic, position.partition))
        .filter((key) => (applied.get(key) ?? -1n) <= offset);
      if (!pending.length) return;
      const mine: Waiter[] = [];
      const done = Promise.all(
        pending.map((key) => new Promise<void>((resolve) => {
          const waiter = { key, offset, resolve };
          mine.push(waiter);
          waiters.push(waiter);
        })),
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          waiters = waiters.filter((w) => !mine.includes(w));
          reject(new SystemError('TIMEOUT', `projection ${pending.join(', ')} has not reached offset ${offset} after ${timeoutMs} ms`, true));
        }, timeoutMs);
      });
      try {
        // The position may have been applied before this LISTEN connection heard of its partition.
        await refresh(pending.filter((key) => !tracked.has(key)));
        await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
        waiters = waiters.filter((w) => !mine.includes(w));
      }
    },
    async close() {
      clearInterval(poll);
      await listener.close();
      await query.end();
    },
  };
}
