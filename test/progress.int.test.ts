/**
 * The gateway's projection watcher (gateway/progress.ts) on a real PostgreSQL: a position applied before it
 * listened is read from `projection_offsets`, a later one is heard from the projectors' notifications, and once its
 * LISTEN connection is cut it reads again rather than trusting what it heard before. The safety-net poll is set
 * far beyond each test's deadline, so only those paths can resolve a wait.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjectionWatcher } from '../gateway/progress.ts';
import type { ProjectionWatcher } from '../services/shared/graphql/index.ts';
import { PROGRESS_CHANNEL } from '../services/shared/projector.ts';
import { freshDatabase } from './support/system.ts';

let database: Awaited<ReturnType<typeof freshDatabase>>;
let db: pg.Client;
let watcher: ProjectionWatcher;
const projector = 'test.orders-projector';
const topic = 'test.orders.events';

beforeAll(async () => {
  database = await freshDatabase('progress');
  db = new pg.Client({ connectionString: database.url });
  await db.connect();
});
afterAll(async () => {
  await watcher?.close();
  await db.end();
  await database.drop();
});

/** What a projector's batch commits: its partition's next offset, announced (or not) on the progress channel. */
async function applied(partition: number, nextOffset: number, announce = true) {
  await db.query(
    `INSERT INTO projection_offsets (projector, topic, partition, next_offset, updated_at) VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (projector, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset`,
    [projector, topic, partition, nextOffset],
  );
  if (announce) await db.query('SELECT pg_notify($1, $2)', [PROGRESS_CHANNEL, JSON.stringify({ projector, topic, partition, nextOffset: String(nextOffset) })]);
}

const reached = (partition: number, offset: number, timeoutMs = 3_000) =>
  watcher.reached([projector], { topic, partition, offset: String(offset) }, timeoutMs);

describe('the projection watcher', () => {
  it('reads a position applied before it listened, and hears the later ones', async () => {
    await applied(0, 5, false);
    watcher = await createProjectionWatcher(database.url, { pollIntervalMs: 600_000 });
    await expect(reached(0, 4)).resolves.toBeUndefined();
    const later = reached(0, 7);
    await applied(0, 8);
    await expect(later).resolves.toBeUndefined();
    // Heard on the live connection: a wait for it needs nothing more.
    await expect(reached(0, 7)).resolves.toBeUndefined();
  });

  it('waits on a partition it has heard of without reading the table: the notification answers it', async () => {
    // Committed without the announcement a projector always makes: only a read of the table would find it, and a
    // watcher whose LISTEN connection has heard of this partition does not read.
    await applied(0, 12, false);
    await expect(reached(0, 11, 300)).rejects.toMatchObject({ code: 'TIMEOUT' });
    const waiting = reached(0, 11);
    await applied(0, 12);
    await expect(waiting).resolves.toBeUndefined();
  });

  it('times out on a position not applied yet', async () => {
    await expect(reached(0, 50, 300)).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('reads again after its LISTEN connection was cut, when commits may have gone unheard', async () => {
    await applied(1, 3);
    await expect(reached(1, 2)).resolves.toBeUndefined();
    const { rowCount } = await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    );
    expect(rowCount).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the watcher sees its connection fail
    // Committed while nobody listened: no notification will ever come for it.
    await applied(1, 10, false);
    await expect(reached(1, 9)).resolves.toBeUndefined();
  });
});
