/**
 * The runtime every projector runs on: it folds event topics into PostgreSQL rows, each batch in one transaction
 * with the offset it reached, so the database, not Kafka, remembers where the projection stands.
 */
import type { KafkaMessage } from 'kafkajs';
import { isFor, type Bus } from './bus.ts';
import { runConsumer } from './consumer.ts';
import { SystemError } from './errors.ts';
import { applyIsolating, reasonOf } from './isolation.ts';
import type { ConsumerHealth } from './liveness.ts';
import { sqlIdentifier, sqlOf, statementOf, type PrismaClient, type SqlTransaction, type SqlValue } from './db.ts';
import type { Logger } from './log.ts';
import type { AnyContract, EventEnvelope, EventOf, LogPosition } from './messages.ts';

/** A projection of a domain, typed by that domain's contract. */
export interface ProjectionDefinition<K extends AnyContract = AnyContract> {
  /** Names the consumer group and the rows in `projection_offsets`. */
  name: string;
  contract: K;
  topics: readonly string[];
  /** The tables it writes, emptied when the projection is rebuilt from the log. */
  tables: readonly string[];
  /**
   * Applies events in log order inside the batch's transaction: plain SQL, as Prisma cost 1.6 ms of CPU per
   * transaction vs 0.25 ms. `positions[i]` is where `events[i]` was read (its logical topic).
   */
  apply(tx: SqlTransaction, events: EventEnvelope<EventOf<K>>[], positions: readonly LogPosition[]): Promise<void>;
}

export interface RunningProjector {
  stop(): Promise<void>;
  /** How its consumer fares, for the process's heartbeat (liveness.ts). */
  health(): ConsumerHealth;
}

/** Channel on which each committed batch announces the offset it reached (read by the gateway). */
export const PROGRESS_CHANNEL = 'projection_progress';

export interface ProjectionProgress {
  projector: string;
  topic: string;
  partition: number;
  nextOffset: string;
}

/** The first offset still in the log (older segments may be deleted by retention). */
async function logStart(bus: Bus, topic: string, partition: number): Promise<bigint> {
  return BigInt((await bus.topicOffsets(topic)).find((o) => o.partition === partition)?.low ?? '0');
}

/** The offset after the last message, per partition. */
async function logEnds(bus: Bus, topic: string): Promise<Map<number, bigint>> {
  return new Map((await bus.topicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
}

/** The offsets a transaction covers: transaction markers and aborted writes mean the messages alone do not tell. */
interface Span {
  from: bigint;
  end: bigint;
}

/** A batch starts after where the projection stands: rows dropped for a rebuild, or events deleted by retention. */
class OffsetsMoved extends Error {
  constructor(readonly next: bigint, message: string) {
    super(message);
  }
}

/** The SQLSTATE of a failed check of the position a member expected (projection_position_expected, a migration's). */
const POSITION_MOVED = 'PP001';
class PositionMoved extends Error {}

export async function startProjector<K extends AnyContract>(
  definition: ProjectionDefinition<K>,
  bus: Bus,
  prisma: PrismaClient,
  log: Logger,
): Promise<RunningProjector> {
  const projector = bus.prefix + definition.name;
  const sql = sqlOf(prisma);
  const clusterId = await bus.clusterId();
  const foreign = await foreignClusters(prisma, [projector], clusterId);
  if (foreign.length) throw logMismatch(foreign, clusterId);

  /**
   * Per partition, where this member last left the projection: checked inside the next transaction instead of read
   * before it (one round trip). Forgotten at every join and after any failure.
   */
  const known = new Map<string, bigint>();

  /** Applies messages of one partition with the offset after them in one transaction. `skip` only moves the offset (a dead letter). */
  async function transact(topic: string, partition: number, messages: KafkaMessage[], skip = false, span?: Span): Promise<void> {
    const at = `${topic}:${partition}`;
    const left = known.get(at);
    known.delete(at);
    // Only a position inside the batch is checked instead of read: a batch from elsewhere (a seek) reads it first.
    const from = span?.from ?? BigInt(messages[0].offset);
    const expected = left !== undefined && from <= left && left <= BigInt(messages.at(-1)!.offset) ? left : undefined;
    try {
      known.set(at, await transactFrom(expected, topic, partition, messages, skip, span));
    } catch (error) {
      if (!(error instanceof PositionMoved)) throw error;
      known.set(at, await transactFrom(undefined, topic, partition, messages, skip, span)); // read where it stands, and go on from there
    }
  }

  /** `transact` from the position this member expects (checked, not read), or else the one read first. Returns the position after it. */
  async function transactFrom(expected: bigint | undefined, topic: string, partition: number, messages: KafkaMessage[], skip: boolean, span?: Span): Promise<bigint> {
    const first = span?.from ?? BigInt(messages[0].offset);
    const last = BigInt(messages.at(-1)!.offset);
    let next = expected ?? -1n;
    let moved = false;
    await sql.transaction(async (tx) => {
      // Created if missing, locked either way: serializes two instances that briefly both hold it in a rebalance.
      const lock = <R>(send: (strings: TemplateStringsArray, ...values: SqlValue[]) => R): R => send`
        INSERT INTO projection_offsets (projector, topic, partition, next_offset, cluster_id, updated_at)
        VALUES (${projector}, ${topic}, ${partition}, 0, ${clusterId}, now())
        ON CONFLICT (projector, topic, partition) DO UPDATE SET next_offset = projection_offsets.next_offset
        RETURNING next_offset`;
      if (expected === undefined) {
        const [stored] = await lock(tx.sql<{ next_offset: string }>);
        next = BigInt(stored.next_offset);
      } else {
        lock(tx.queue);
        // Fails the transaction before anything is applied when the position is not where this member left it.
        tx.queue`
          SELECT projection_position_expected(${expected}, next_offset)
          FROM projection_offsets WHERE projector = ${projector} AND topic = ${topic} AND partition = ${partition}`;
      }
      if (first > next) throw new OffsetsMoved(next, `${topic}/${partition}: the projection stands at ${next}, before this batch (${first})`);
      if (last < next) return;
      const events: EventEnvelope[] = [];
      const positions: LogPosition[] = [];
      const logical = bus.logicalTopic(topic);
      for (const message of skip ? [] : messages) {
        if (BigInt(message.offset) < next || !isFor(definition.name, message)) continue;
        // An invalid message fails the batch, and is then set aside alone.
        const envelope = definition.contract.read(logical, message);
        if (envelope?.kind !== 'event') continue;
        events.push(envelope);
        positions.push({ topic: logical, partition, offset: message.offset });
      }
      if (events.length) await definition.apply(tx, events as never, positions);
      // Past the closing transaction markers too: else the position stays one behind and readiness sees a stall.
      next = span && span.end > last ? span.end : last + 1n;
      moved = true;
    }, {
      // With COMMIT: the new position and its announcement, which listeners hear only once this commits.
      closing: () => {
        if (!moved) return [];
        const progress: ProjectionProgress = { projector, topic, partition, nextOffset: String(next) };
        return [
          statementOf`
            UPDATE projection_offsets SET next_offset = GREATEST(next_offset, ${next}), cluster_id = ${clusterId}, updated_at = now()
            WHERE projector = ${projector} AND topic = ${topic} AND partition = ${partition}`,
          statementOf`SELECT pg_notify(${PROGRESS_CHANNEL}, ${JSON.stringify(progress)})`,
        ];
      },
    }).catch((error: Error & { code?: string }) => {
      throw expected !== undefined && error.code === POSITION_MOVED ? new PositionMoved() : error;
    });
    return next;
  }

  const consumer = await runConsumer(bus, {
    group: definition.name,
    topics: definition.topics,
    fromBeginning: true,
    // On assignment, seek to where the database says the projection stands (best effort: eachBatch's check is what
    // guarantees nothing is skipped or applied twice).
    prepare: (member) => {
      // A fetch of only transaction markers or aborted writes reaches no handler: move past it here.
      member.on(member.events.END_BATCH_PROCESS, ({ payload }) => {
        if (payload.batchSize !== 0 || payload.firstOffset === null) return;
        known.delete(`${payload.topic}:${payload.partition}`);
        const [first, end] = [BigInt(payload.firstOffset), BigInt(payload.lastOffset) + 1n];
        prisma.$executeRaw`
          UPDATE projection_offsets SET next_offset = ${end}, updated_at = now()
          WHERE projector = ${projector} AND topic = ${payload.topic} AND partition = ${payload.partition} AND next_offset >= ${first} AND next_offset < ${end}`
          .catch((error: Error) => log.warn(`could not move past ${payload.topic}/${payload.partition}@${payload.lastOffset}: ${reasonOf(error)}`));
      });
      member.on(member.events.GROUP_JOIN, ({ payload }) => {
        known.clear();
        void (async () => {
          for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
            const [rows, offsets, committed] = await Promise.all([
              prisma.projectionOffset.findMany({ where: { projector, topic, partition: { in: partitions } } }),
              bus.topicOffsets(topic),
              bus.committedOffsets(definition.name, topic),
            ]);
            const stored = new Map(rows.map((row) => [row.partition, row.nextOffset]));
            const logStarts = new Map(offsets.map((o) => [o.partition, BigInt(o.low)]));
            for (const partition of partitions) {
              const next = stored.get(partition) ?? 0n;
              // A seek to where it reads anyway would discard the fetch under way (~7 % of a 20,000-event catch-up).
              if (next !== (committed.get(partition) ?? logStarts.get(partition) ?? 0n)) member.seek({ topic, partition, offset: String(next) });
            }
            const ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
            const ahead = rows.filter((row) => row.nextOffset > (ends.get(row.partition) ?? 0n));
            if (ahead.length) {
              log.error(
                `${projector} stands beyond the end of ${topic} on partition(s) ${ahead.map((r) => r.partition).join(', ')}: ` +
                  'this database was projected from another Kafka log, or the topic was created again. Rebuild the projections ' +
                  'from this log with `npm run setup -- --rebuild-projections`, then restart.',
              );
            }
          }
        })().catch((error: Error) => log.warn(`could not seek to the stored offsets, Kafka's are used: ${error.message}`));
      });
    },
    run: (member) => ({
      // Kafka's committed offset is only a hint: the database holds the position.
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!batch.messages.length) return;
        const { topic, partition } = batch;
        const spanOf = (messages: KafkaMessage[]): Span => {
          const i = batch.messages.indexOf(messages[0]);
          const from = i === 0 ? BigInt(batch.firstOffset()!) : BigInt(batch.messages[i - 1].offset) + 1n;
          const end = messages.at(-1) === batch.messages.at(-1) ? BigInt(batch.lastOffset()) + 1n : BigInt(messages.at(-1)!.offset) + 1n;
          return { from, end };
        };
        // Messages the database already holds (a crash between its commit and Kafka's) are skipped inside the transaction.
        const project = () => applyIsolating(batch.messages, {
          apply: (messages) => transact(topic, partition, messages, false, spanOf(messages)),
          setAside: async (message, reason) => {
            log.error(`dead-lettering ${topic}/${partition}@${message.offset}, which cannot be projected: ${reason}`);
            await bus.publishDeadLetter({ topic, partition, offset: message.offset, value: message.value, consumer: definition.name }, reason);
            await transact(topic, partition, [message], true, spanOf([message]));
          },
          infrastructureAnswers: () => prisma.$queryRaw`SELECT 1`.then(() => true),
          pause: async (ms, attempt, error) => {
            if (error instanceof OffsetsMoved || !isRunning() || isStale()) throw error;
            log.warn(`failed to project ${topic}/${partition}@${batch.messages[0].offset} (attempt ${attempt}), retrying in ${ms} ms: ${reasonOf(error)}`);
            await new Promise((r) => setTimeout(r, ms));
            await heartbeat();
          },
        });
        try {
          await project();
        } catch (error) {
          if (!(error instanceof OffsetsMoved)) throw error;
          // Kafka's committed offset is only a hint: the database says where the projection stands.
          const { next } = error;
          const start = await logStart(bus, topic, partition);
          if (start <= next) {
            log.info(`${topic}/${partition}: the projection stands at offset ${next}, behind Kafka's ${batch.firstOffset()}: replaying from there`);
            member.seek({ topic, partition, offset: String(next) });
            return;
          }
          log.warn(`${topic}/${partition}: events ${next}..${start - 1n} were deleted by retention before this projection read them`);
          await prisma.$executeRaw`
            INSERT INTO projection_offsets (projector, topic, partition, next_offset, cluster_id, updated_at)
            VALUES (${projector}, ${topic}, ${partition}, ${BigInt(batch.firstOffset()!)}, ${clusterId}, now())
            ON CONFLICT (projector, topic, partition) DO UPDATE SET next_offset = GREATEST(projection_offsets.next_offset, EXCLUDED.next_offset)`;
          await project();
        }
        resolveOffset(batch.lastOffset()); // committed within a second (consumer.ts)
        await heartbeat();
      },
    }),
  }, log);
  log.info(`projecting ${definition.topics.join(', ')}`);
  return {
    health: consumer.health,
    async stop() {
      await consumer.stop();
    },
  };
}

/** The clusters other than `current` that these projectors' stored offsets belong to. */
export async function foreignClusters(prisma: PrismaClient, projectors: string[], current: string): Promise<string[]> {
  const rows = await prisma.projectionOffset.findMany({
    where: { projector: { in: projectors }, clusterId: { not: current } },
    distinct: ['clusterId'],
    select: { clusterId: true },
  });
  return rows.map((row) => row.clusterId).filter((id): id is string => id !== null);
}

export function logMismatch(foreign: string[], current: string): SystemError {
  return new SystemError(
    'LOG_MISMATCH',
    `this database was projected from another Kafka log (cluster ${foreign.join(', ')}), but the brokers are cluster ${current}. ` +
      REBUILD_REMEDY,
  );
}

const REBUILD_REMEDY =
  'Point KAFKA_BROKERS at the cluster the projections came from, or DATABASE_URL at a fresh database, ' +
  'or rebuild the projections from this log with `npm run setup -- --rebuild-projections`.';

/** Stored offsets beyond the end of their partition: the topic was deleted and created again since. */
async function offsetsBeyondLog(prisma: PrismaClient, bus: Bus, projectors: string[]): Promise<string[]> {
  const rows = await prisma.projectionOffset.findMany({ where: { projector: { in: projectors } } });
  const ends = new Map<string, Map<number, bigint>>();
  const beyond: string[] = [];
  for (const row of rows) {
    if (!ends.has(row.topic)) ends.set(row.topic, await logEnds(bus, row.topic).catch(() => new Map<number, bigint>()));
    if (row.nextOffset > (ends.get(row.topic)!.get(row.partition) ?? 0n)) beyond.push(`${row.topic}/${row.partition}`);
  }
  return beyond;
}

/** Makes sure the projections were built from the brokers' log (setup); else `rebuild` empties them, or it refuses. */
export async function reconcileProjectionLog(
  prisma: PrismaClient,
  bus: Bus,
  projections: readonly { name: string; tables: readonly string[] }[],
  rebuild: 'never' | 'if-foreign' | 'always',
): Promise<{ rebuilt: boolean; reason?: string }> {
  const projectors = projections.map((p) => bus.prefix + p.name);
  const clusterId = await bus.clusterId();
  const foreign = await foreignClusters(prisma, projectors, clusterId);
  const beyond = foreign.length ? [] : await offsetsBeyondLog(prisma, bus, projectors);
  const reason = foreign.length
    ? `the projections were built from Kafka cluster ${foreign.join(', ')}, and the brokers are cluster ${clusterId}`
    : beyond.length
      ? `the projections stand beyond the end of ${beyond.join(', ')}: the topics were created again`
      : undefined;
  if (rebuild === 'never' && reason) throw foreign.length ? logMismatch(foreign, clusterId) : new SystemError('LOG_MISMATCH', `${reason}. ${REBUILD_REMEDY}`);
  if (!reason && rebuild !== 'always') return { rebuilt: false };
  const tables = projections.flatMap((p) => p.tables).map(sqlIdentifier); // the contracts' names, checked
  await prisma.$transaction([
    prisma.$executeRawUnsafe(`TRUNCATE ${tables.join(', ')}`),
    prisma.projectionOffset.deleteMany({ where: { projector: { in: projectors } } }),
  ]);
  return { rebuilt: true, reason };
}
