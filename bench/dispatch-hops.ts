/**
 * Where a dispatch's time goes (issue 23): while rides are dispatched, each hop of `requestRide` → DRIVER_ASSIGNED
 * timed from what the log and the database say, as it happens, on this machine's one clock:
 * - the `RequestRide` command's Kafka timestamp (the gateway produced it);
 * - the dispatcher's `DriverAssigned` (its occurredAt: decided; its Kafka timestamp: written in the transaction);
 * - when a read_committed consumer here first saw that event and the command's reply (the transaction committed);
 * - when each projector announced it had applied the event (its progress notification, heard here);
 * - and, from the caller, when the mutation answered and when `rideUpdated` pushed the assignment.
 * The consumer and the listener are the bench's own: a few messages a second, beside the system's thousands.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { TOPICS } from '../services/rides/contract.ts';
import { createKafka } from '../services/shared/bus.ts';
import { RUNTIME_TOPICS, type CommandReply } from '../services/shared/messages.ts';
import { PROGRESS_CHANNEL, type ProjectionProgress } from '../services/shared/projector.ts';
import { jsonOf, schemaIds } from '../services/shared/wire.ts';
import type { BenchSystem } from './system.ts';

/** Per ride: when each of its steps happened, epoch ms. */
export type DispatchSteps = Record<string, number>;

export interface DispatchHop { hop: string; p50: number; p90: number; p99: number; count: number }

export interface DispatchTrace {
  /** The steps of a ride the caller timed itself: `sent`, `answered`, `pushed`. */
  mark(rideId: string, step: string, at?: number): void;
  /** Stops listening; each hop's p50/p90/p99 over the rides. */
  stop(): Promise<DispatchHop[]>;
}

export async function traceDispatch(system: BenchSystem): Promise<DispatchTrace> {
  const steps = new Map<string, DispatchSteps>();
  const stepsOf = (rideId: string) => steps.get(rideId) ?? steps.set(rideId, {}).get(rideId)!;
  const first = (rideId: string, step: string, at: number) => {
    const s = stepsOf(rideId);
    s[step] = Math.min(s[step] ?? Infinity, at);
  };

  const heard: (ProjectionProgress & { at: number })[] = [];
  const listener = new pg.Client({ connectionString: system.databaseUrl });
  await listener.connect();
  listener.on('notification', (n) => heard.push({ ...(JSON.parse(n.payload!) as ProjectionProgress), at: Date.now() }));
  await listener.query(`LISTEN ${PROGRESS_CHANNEL}`);

  const topic = (logical: string) => system.topicPrefix + logical;
  const commands = topic(TOPICS.rideCommands);
  const rideEvents = topic(TOPICS.rideEvents);
  const replies = topic(RUNTIME_TOPICS.commandReplies);
  const rideOfCommand = new Map<string, string>();
  /** Where each ride's DriverAssigned landed. */
  const assignedAt = new Map<string, { partition: number; offset: bigint }>();
  /** Replies heard before their command (another partition's fetch came first). */
  const early = new Map<string, number>();

  const kafka = createKafka('bench-dispatch-hops', system.kafkaBrokers.split(','));
  const consumer = kafka.consumer({ groupId: `bench-dispatch-hops-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  for (const t of [commands, rideEvents, replies]) await consumer.subscribe({ topic: t, fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  void consumer.run({
    eachMessage: async ({ topic: from, partition, message }) => {
      const seen = Date.now();
      await schemaIds().learn([message.value]);
      const value = jsonOf(schemaIds(), message.value) as { type?: string; commandId?: string; occurredAt?: string; data?: { rideId?: string } };
      if (from === replies) {
        const reply = value as unknown as CommandReply;
        const rideId = rideOfCommand.get(reply.commandId);
        if (rideId) first(rideId, 'reply seen', seen);
        else early.set(reply.commandId, seen);
        return;
      }
      const rideId = value.data?.rideId;
      if (!rideId || !steps.has(rideId)) return;
      if (from === commands && value.type === 'RequestRide') {
        rideOfCommand.set(value.commandId!, rideId);
        first(rideId, 'command produced', Number(message.timestamp));
        first(rideId, 'command seen', seen);
        const replied = early.get(value.commandId!);
        if (replied !== undefined) first(rideId, 'reply seen', replied);
      } else if (from === rideEvents && value.type === 'DriverAssigned') {
        first(rideId, 'decided', Date.parse(value.occurredAt!));
        first(rideId, 'assignment produced', Number(message.timestamp));
        first(rideId, 'assignment seen', seen);
        assignedAt.set(rideId, { partition, offset: BigInt(message.offset) });
      }
    },
  });
  await joined;
  // The group starts at the end of the log: give its first fetch a moment, so the first ride is not missed.
  await new Promise((r) => setTimeout(r, 500));

  return {
    mark(rideId, step, at = Date.now()) {
      first(rideId, step, at);
    },
    async stop() {
      await new Promise((r) => setTimeout(r, 1000)); // the last ride's notifications and messages
      await consumer.disconnect();
      await listener.end();
      for (const [rideId, { partition, offset }] of assignedAt) {
        for (const projector of ['rides-projector', 'rides-event-index']) {
          const applied = heard.find((h) => h.projector === system.topicPrefix + projector && h.topic === rideEvents && h.partition === partition && BigInt(h.nextOffset) > offset);
          if (applied) first(rideId, `${projector} applied`, applied.at);
        }
      }
      const end = (s: DispatchSteps) => Math.min(s.answered ?? Infinity, s.pushed ?? Infinity);
      const hops: [string, (s: DispatchSteps) => number][] = [
        ['gateway: requestRide sent → RequestRide produced', (s) => s['command produced'] - s.sent],
        ['dispatch: RequestRide produced → DriverAssigned decided', (s) => s.decided - s['command produced']],
        ['dispatch: decided → DriverAssigned produced (in its transaction)', (s) => s['assignment produced'] - s.decided],
        ['dispatch: decided → committed (seen by a read_committed consumer)', (s) => s['assignment seen'] - s.decided],
        ['dispatch: decided → its reply seen (the gateway\'s cue)', (s) => s['reply seen'] - s.decided],
        ['bench consumer: RequestRide produced → seen', (s) => s['command seen'] - s['command produced']],
        ['rides-projector: decided → applied (notified)', (s) => s['rides-projector applied'] - s.decided],
        ['rides-event-index: decided → applied (notified)', (s) => s['rides-event-index applied'] - s.decided],
        ['gateway: the later of both applied → answered', (s) => s.answered - Math.max(s['rides-projector applied'], s['rides-event-index applied'])],
        ['gateway: the later of both applied → pushed', (s) => s.pushed - Math.max(s['rides-projector applied'], s['rides-event-index applied'])],
        ['in all: sent → decided', (s) => s.decided - s.sent],
        ['in all: sent → answered', (s) => s.answered - s.sent],
        ['in all: sent → pushed', (s) => s.pushed - s.sent],
        ['in all: sent → the first of answered and pushed', (s) => end(s) - s.sent],
      ];
      return hops.map(([hop, of]) => {
        const values = [...steps.values()].map(of).filter(Number.isFinite).sort((a, b) => a - b);
        const at = (p: number) => values[Math.min(values.length - 1, Math.floor(p * values.length))] ?? NaN;
        return { hop, p50: at(0.5), p90: at(0.9), p99: at(0.99), count: values.length };
      });
    },
  };
}
