/**
 * Heartbeats: each process says every second, as a PostgreSQL notification, that it is alive and how its consumers
 * fare, so the gateway's `/readyz` shows a killed or hung process within 3 s (the group's session timeout: 10 s).
 *
 * NOTIFY, not a Kafka topic: it outlives a broker stop (a process can say its consumers no longer hear Kafka), and
 * is never read again (a resumed consumer would take a dead process's old heartbeats for fresh ones).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import type { Logger } from './log.ts';

export const LIVENESS_CHANNEL = 'process_liveness';
/** How often a process sends its heartbeat. */
export const HEARTBEAT_EVERY_MS = 1_000;
/** How often to look for a consumer change that warrants a heartbeat at once (else assignments are up to a beat old). */
const CHANGES_EVERY_MS = 100;
/** Two and a half beats: one late beat is not a death, and a dead process shows within 3 s. */
export const SILENT_AFTER_MS = 2_500;
/** NOTIFY refuses payloads from 8000 bytes on: a heartbeat with more consumers goes as several notifications. */
const MAX_PAYLOAD_BYTES = 7_000;

/** What one consumer of a process reports in each heartbeat. */
export interface ConsumerHealth {
  /** The consumer group, with the topic prefix (as Kafka names it). */
  group: string;
  /** The services and projections it consumes for (one group serves a process's services). Undefined: the group's name. */
  serves?: string[];
  /** Why it does not consume now, as the rest of a sentence ("crashed (…) and is restarting"); undefined when it does. */
  problem?: string;
  /** The physical topics it reads. */
  topics: string[];
  /** The partitions it was given at its last join, by physical topic. */
  assigned: Record<string, number[]>;
  /** How long ago it last joined its group, in ms; undefined before it joined. A duration: clocks of two hosts differ. */
  joinedMsAgo?: number;
}

export interface Heartbeat {
  /** Unique to one start of the process's services: a process started again is another instance. */
  instance: string;
  /** The process's name, as its log lines show it (`services`, or the service it runs alone). */
  process: string;
  pid: number;
  host: string;
  /** Sent once by an instance stopping on purpose, so that the gateway need not wait to call it silent. */
  stopping?: true;
  /** Its consumers; a heartbeat split in several notifications names some of them in each. */
  consumers: ConsumerHealth[];
}

/** The heartbeat as notification payloads, each under NOTIFY's limit (the consumers shared out between them). */
export function heartbeatPayloads(beat: Heartbeat, maxBytes = MAX_PAYLOAD_BYTES): string[] {
  const payloads: string[] = [];
  let some: ConsumerHealth[] = [];
  for (const consumer of beat.consumers) {
    if (some.length && Buffer.byteLength(JSON.stringify({ ...beat, consumers: [...some, consumer] })) > maxBytes) {
      payloads.push(JSON.stringify({ ...beat, consumers: some }));
      some = [];
    }
    some.push(consumer);
  }
  payloads.push(JSON.stringify({ ...beat, consumers: some }));
  const tooLarge = payloads.find((payload) => Buffer.byteLength(payload) > maxBytes);
  if (tooLarge) throw new Error(`a heartbeat's consumer does not fit in one notification (${Buffer.byteLength(tooLarge)} bytes, at most ${maxBytes})`);
  return payloads;
}

export interface Heartbeats {
  /** Stops beating and says the instance is stopping. */
  stop(): Promise<void>;
}

/** Sends this process's heartbeat now, every HEARTBEAT_EVERY_MS and when a consumer changes, until stopped. */
export function startHeartbeats(options: {
  databaseUrl: string;
  process: string;
  consumers: () => ConsumerHealth[];
  log: Logger;
}): Heartbeats {
  const { log } = options;
  // One connection, bounded: a beat that cannot go out in time is a missed beat, never a queue of them.
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 1, connectionTimeoutMillis: HEARTBEAT_EVERY_MS, query_timeout: 2 * HEARTBEAT_EVERY_MS });
  // A dropped idle connection is replaced on the next beat; an unheard 'error' event would end the process.
  pool.on('error', () => {});
  const identity = { instance: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, process: options.process, pid: process.pid, host: hostname() };
  let sending: Promise<void> | undefined;
  let failing = false;
  let sentAt = 0;
  let sentShape = '';
  /** What a heartbeat must go out at once for: each consumer's assignment and whether it has a problem. */
  const shapeOf = (consumers: ConsumerHealth[]) => JSON.stringify(consumers.map((c) => [c.group, c.problem === undefined, c.assigned]));

  const send = async (beat: Heartbeat) => {
    const payloads = heartbeatPayloads(beat);
    await pool.query(`SELECT ${payloads.map((_, i) => `pg_notify($1, $${i + 2})`).join(', ')}`, [LIVENESS_CHANNEL, ...payloads]);
  };

  const beat = () => {
    if (sending) return; // the last one still waits on PostgreSQL
    const consumers = options.consumers();
    const shape = shapeOf(consumers);
    if (shape === sentShape && Date.now() - sentAt < HEARTBEAT_EVERY_MS) return;
    sentShape = shape;
    sentAt = Date.now();
    sending = send({ ...identity, consumers })
      .then(() => {
        if (failing) log.info('heartbeats reach PostgreSQL again');
        failing = false;
      }, (error: Error) => {
        if (!failing) {
          log.warn(`cannot send heartbeats to PostgreSQL (${error.message}): the gateway's /readyz calls this process silent until they arrive; check DATABASE_URL and the server`);
        }
        failing = true;
      })
      .finally(() => { sending = undefined; });
  };

  beat();
  const timer = setInterval(beat, CHANGES_EVERY_MS).unref(); // beats while the process runs; never keeps it running
  return {
    async stop() {
      clearInterval(timer);
      await sending;
      await send({ ...identity, stopping: true, consumers: [] }).catch(() => {});
      await pool.end();
    },
  };
}

/** A duration for a sentence: `2.5 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
