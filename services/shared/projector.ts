/**
 * The runtime every projector runs on. A projector folds event topics into PostgreSQL rows. Each fetched
 * batch is applied in one transaction together with the offset it reached, so a crash or restart neither
 * loses nor repeats an event: the database, not Kafka, remembers where the projection stands.
 */
import type { Consumer } from 'kafkajs';
import { joined, type Bus } from './bus.ts';
import type { Prisma, PrismaClient } from './db.ts';
import type { Logger } from './log.ts';
import { decode, type EventEnvelope, type TopicName } from './messages.ts';

export interface ProjectionDefinition {
  /** Names the consumer group and the rows in `projection_offsets`. */
  name: string;
  topics: TopicName[];
  /** Applies a batch of events, in log order, inside the batch's transaction. */
  apply(tx: Prisma.TransactionClient, events: EventEnvelope[]): Promise<void>;
}

export interface RunningProjector {
  stop(): Promise<void>;
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

export async function startProjector(
  definition: ProjectionDefinition,
  bus: Bus,
  prisma: PrismaClient,
  log: Logger,
): Promise<RunningProjector> {
  const projector = bus.prefix + definition.name;
  const consumer: Consumer = bus.createConsumer(definition.name);
  await consumer.connect();
  for (const topic of definition.topics) await consumer.subscribe({ topic: bus.topic(topic), fromBeginning: true });

  // On assignment, start where the database says the projection stands: after the rows were dropped for a
  // rebuild there may be no new message to reveal it. Best effort (kafkajs does not wait for this); the
  // check in eachBatch below is what guarantees nothing is skipped or applied twice.
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    void (async () => {
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        const rows = await prisma.projectionOffset.findMany({ where: { projector, topic, partition: { in: partitions } } });
        const stored = new Map(rows.map((row) => [row.partition, row.nextOffset]));
        for (const partition of partitions) consumer.seek({ topic, partition, offset: String(stored.get(partition) ?? 0n) });
        const ends = await logEnds(bus, topic);
        const ahead = rows.filter((row) => row.nextOffset > (ends.get(row.partition) ?? 0n));
        if (ahead.length) {
          // Offsets beyond the end of the log: the tables were built from another cluster (or a wiped broker).
          log.error(
            `${projector} stands beyond the end of ${topic} on partition(s) ${ahead.map((r) => r.partition).join(', ')}: ` +
              'this database was projected from another Kafka log. Point DATABASE_URL at a fresh database, or drop this ' +
              "projection's rows and its projection_offsets rows, then restart.",
          );
        }
      }
    })().catch((error: Error) => log.warn(`could not seek to the stored offsets, Kafka's are used: ${error.message}`));
  });
  const ready = joined(consumer);

  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (!batch.messages.length) return;
      const { topic, partition } = batch;
      const first = BigInt(batch.firstOffset()!);
      const last = BigInt(batch.lastOffset());
      const invalid: { offset: string; value: Buffer | null; reason: string }[] = [];
      const applyBatch = (allowGap: boolean) => prisma.$transaction(
        async (tx) => {
          await tx.$executeRaw`
            INSERT INTO projection_offsets (projector, topic, partition, next_offset, updated_at)
            VALUES (${projector}, ${topic}, ${partition}, 0, now()) ON CONFLICT DO NOTHING`;
          // The row lock serializes two instances that briefly both hold this partition during a rebalance.
          const [{ next_offset: next }] = await tx.$queryRaw<{ next_offset: bigint }[]>`
            SELECT next_offset FROM projection_offsets
            WHERE projector = ${projector} AND topic = ${topic} AND partition = ${partition} FOR UPDATE`;
          // Kafka's committed offset is only a hint; the database says where the projection stands. It is
          // ahead after a crash between the two commits (skip), behind after the rows were dropped (rewind).
          if (first > next && !allowGap) return { rewindTo: next as bigint };
          if (last < next) return { applied: 0 };
          const events: EventEnvelope[] = [];
          for (const message of batch.messages) {
            if (BigInt(message.offset) < next) continue;
            try {
              const envelope = decode(message.value);
              if (envelope.kind === 'event') events.push(envelope);
            } catch (error) {
              invalid.push({ offset: message.offset, value: message.value, reason: (error as Error).message });
            }
          }
          if (events.length) await definition.apply(tx, events);
          const progress: ProjectionProgress = { projector, topic, partition, nextOffset: String(last + 1n) };
          await tx.$executeRaw`
            UPDATE projection_offsets SET next_offset = GREATEST(next_offset, ${last + 1n}), updated_at = now()
            WHERE projector = ${projector} AND topic = ${topic} AND partition = ${partition}`;
          // Delivered to listeners only when the transaction commits.
          await tx.$executeRaw`SELECT pg_notify(${PROGRESS_CHANNEL}, ${JSON.stringify(progress)})`;
          return { applied: events.length };
        },
        { timeout: 60_000, maxWait: 10_000 },
      );
      const outcome = await applyBatch(false);
      if ('rewindTo' in outcome && outcome.rewindTo !== undefined) {
        const start = await logStart(bus, topic, partition);
        if (start <= outcome.rewindTo) {
          log.info(`${topic}/${partition}: the projection stands at offset ${outcome.rewindTo}, behind Kafka's ${first}: replaying from there`);
          consumer.seek({ topic, partition, offset: String(outcome.rewindTo) });
          return;
        }
        log.warn(`${topic}/${partition}: events ${outcome.rewindTo}..${start - 1n} were deleted by retention before this projection read them`);
        await applyBatch(true);
      }
      for (const bad of invalid) {
        log.warn(`dead-lettered an invalid event at ${topic}/${partition}@${bad.offset}: ${bad.reason}`);
        await bus.publishDeadLetter({ topic, partition, offset: bad.offset, value: bad.value, consumer: definition.name }, bad.reason);
      }
      resolveOffset(batch.lastOffset()); // committed by kafkajs after the batch
      await heartbeat();
    },
  });
  await ready;
  log.info(`projecting ${definition.topics.join(', ')}`);
  return {
    async stop() {
      await consumer.disconnect();
    },
  };
}
