/**
 * Readiness from Kafka, PostgreSQL and the processes' heartbeats. Every `sampleMs` the sampler compares the groups'
 * committed offsets (projectors': `projection_offsets`) with the high watermarks: lag, stalls, groups with no member.
 * Liveness and the gateway's own consumer are judged when asked, from memory, so a killed process or stopped broker
 * shows within 3 s. `/readyz` and `/healthz` do no I/O of their own.
 */
import type { Admin } from 'kafkajs';
import type { Bus } from '../services/shared/bus.ts';
import { databaseUrl } from '../services/shared/config.ts';
import type { PrismaClient } from '../services/shared/db.ts';
import { RUNTIME_TOPICS, repartitionTopic, type AnyContract } from '../services/shared/messages.ts';
import { listenToHeartbeats, livenessReasons, type LivenessGroup } from './liveness.ts';
import type { GatewayMetrics } from './metrics.ts';

export interface HealthOptions {
  /** How often to sample, in ms. Default: HEALTH_SAMPLE_MS, or 2000. */
  sampleMs: number;
  /** A partition with waiting messages whose offset has not moved for this long is stalled, in ms. Default: STALL_AFTER_MS, or 30000. */
  stallAfterMs: number;
  /** Waiting messages of one group, over all its partitions, above which it is far behind. Default: MAX_LAG, or 10000. */
  maxLag: number;
  /** Further checks run with every sample; each answers a reason not to be ready, or undefined. Default: none. */
  readinessChecks: (() => Promise<string | undefined>)[];
}

export interface HealthSample {
  ready: boolean;
  /** Why the system is not ready, one sentence each; empty when ready. */
  reasons: string[];
  kafka: 'ok' | 'unreachable';
  postgres: 'ok' | 'unreachable';
  sampledAt: string;
  consumers: { name: string; group: string; state: string; members: number; lag: number }[];
}

export interface HealthSampler {
  /** The latest sample, with what the heartbeats and the gateway's own consumer say now. */
  latest(): HealthSample;
  stop(): Promise<void>;
}

/** A consumer group of the system: a service's command handler, or a projector. */
interface Watched {
  name: string;
  group: string;
  topics: readonly string[];
  projector: boolean;
  /** The process that runs it (`npm run service -- <process>`). */
  process: string;
}

type Positions = Map<string, bigint>; // `${physical topic}:${partition}` → next offset to read
type Ends = Map<string, { partition: number; low: bigint; high: bigint }[]>;

/** Starts sampling and listening to heartbeats; resolves once the first sample is in. */
export async function startHealthSampler(
  deps: { bus: Bus; prisma: PrismaClient; metrics: GatewayMetrics; contracts: readonly AnyContract[]; ownConsumer: () => string | undefined; databaseUrl?: string },
  options: HealthOptions,
): Promise<HealthSampler> {
  const { bus, prisma, metrics } = deps;
  /** What readiness watches; `group` is the group's own name, until a heartbeat names the group that serves it (groupOf). */
  const watched: Watched[] = deps.contracts.flatMap((contract) => [
    ...contract.services.map((s) => ({ name: s.name, group: bus.prefix + s.name, topics: [...s.inputs, repartitionTopic(s.name)], projector: false, process: s.name })),
    ...contract.projections.map((p) => ({ name: p.name, group: bus.prefix + p.name, topics: p.topics, projector: true, process: p.process })),
  ]);
  // Admin calls fail fast: the next sample is the retry.
  const admin: Admin = bus.kafka.admin({ retry: { retries: 1 } });
  await admin.connect();
  // A sample with no answer by then reports what it still waits for (and the next sample waits for this one).
  const answerWithinMs = Math.max(5_000, options.sampleMs);
  const stillSince = new Map<string, { position: bigint; since: number }>();
  const membersSeen = new Map<string, Set<string>>();
  // What the current sample still waits for, named by the watchdog.
  const waitingFor = new Set<'Kafka' | 'PostgreSQL'>();
  /** Partitions of each logical topic, from the latest sample that reached Kafka: what a group's live members must hold. */
  const partitionCounts = new Map<string, number>();
  const heartbeats = listenToHeartbeats(deps.databaseUrl ?? databaseUrl());
  metrics.readHeartbeatAgesFrom(() => heartbeats.heard().map((heard) => ({
    process: heard.process, instance: heard.instance, seconds: (Date.now() - heard.heardAt) / 1000,
  })));

  let latest: HealthSample = notSampled();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake = () => {};

  /** Each watched group under the group that serves it now (a process's services share one, named by heartbeats). */
  function watchedNow(): Watched[] {
    const serving = new Map<string, string>();
    for (const instance of heartbeats.heard()) {
      for (const consumer of instance.consumers.values()) for (const name of consumer.serves ?? []) serving.set(name, consumer.group);
    }
    return watched.map((w) => ({ ...w, group: serving.get(w.name) ?? w.group }));
  }

  async function readKafka(watched: Watched[]) {
    const { groups } = await admin.describeGroups([...new Set(watched.map((w) => w.group))]);
    const ends: Ends = new Map();
    for (const topic of new Set([...watched.flatMap((w) => w.topics), RUNTIME_TOPICS.deadLetters])) {
      const offsets = await bus.topicOffsets(bus.topic(topic));
      ends.set(topic, offsets.map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) })));
    }
    const committed = new Map<string, Positions>();
    const topicsOf = new Map<string, Set<string>>(); // a group serving several services reads all their topics
    for (const w of watched) topicsOf.set(w.group, new Set([...(topicsOf.get(w.group) ?? []), ...w.topics.map((t) => bus.topic(t))]));
    for (const [group, read] of topicsOf) {
      const topics = await admin.fetchOffsets({ groupId: group, topics: [...read] });
      // -1: nothing committed yet.
      committed.set(group, new Map(topics.flatMap(({ topic, partitions }) =>
        partitions.filter((p) => p.offset !== '-1').map((p) => [`${topic}:${p.partition}`, BigInt(p.offset)] as const))));
    }
    return { groups, ends, committed };
  }

  async function readProjectors(): Promise<Map<string, Positions>> {
    const rows = await prisma.projectionOffset.findMany({ where: { projector: { in: watched.filter((w) => w.projector).map((w) => w.group) } } });
    const byProjector = new Map<string, Positions>();
    for (const row of rows) {
      const positions = byProjector.get(row.projector) ?? new Map();
      positions.set(`${row.topic}:${row.partition}`, row.nextOffset);
      byProjector.set(row.projector, positions);
    }
    return byProjector;
  }

  async function sample(): Promise<HealthSample> {
    waitingFor.add('Kafka').add('PostgreSQL');
    const watched = watchedNow();
    const [kafka, projectors, extra] = await Promise.all([
      settle(readKafka(watched)).finally(() => waitingFor.delete('Kafka')),
      settle(readProjectors()).finally(() => waitingFor.delete('PostgreSQL')),
      Promise.all(options.readinessChecks.map((check) => check().catch((error: Error) => `a readiness check failed: ${error.message}`))),
    ]);
    const now = Date.now();
    const reasons: string[] = [];
    if (!kafka.ok) reasons.push(`cannot reach Kafka (${kafka.error.message}): check KAFKA_BROKERS and the broker`);
    if (!projectors.ok) reasons.push(`cannot reach PostgreSQL (${projectors.error.message}): check DATABASE_URL and the server`);
    const consumers: HealthSample['consumers'] = [];
    if (kafka.ok) {
      const { groups, ends, committed } = kafka.value;
      for (const [topic, offsets] of ends) partitionCounts.set(topic, offsets.length);
      metrics.consumerLag.reset();
      metrics.projectorLag.reset();
      metrics.deadLetters.set(Number((ends.get(RUNTIME_TOPICS.deadLetters) ?? []).reduce((sum, o) => sum + o.high - o.low, 0n)));
      for (const w of watched) {
        const described = groups.find((g) => g.groupId === w.group);
        const members = described?.members ?? [];
        countRejoins(w, members.map((m) => m.memberId));
        // A projector's truth is its offsets in PostgreSQL; Kafka's committed offset is only a hint for it.
        const truth = w.projector && projectors.ok ? projectors.value.get(w.group) ?? new Map() : committed.get(w.group)!;
        let lag = 0n;
        const stalls: string[] = [];
        const waiting: string[] = [];
        for (const topic of w.topics) {
          const physical = bus.topic(topic);
          for (const end of ends.get(topic) ?? []) {
            const key = `${physical}:${end.partition}`;
            const labels = { topic, partition: String(end.partition) };
            const kafkaPosition = committed.get(w.group)!.get(key) ?? end.low;
            metrics.consumerLag.set({ group: w.name, ...labels }, Number(max0(end.high - kafkaPosition)));
            const position = truth.get(key) ?? end.low;
            const behind = max0(end.high - position);
            if (w.projector) metrics.projectorLag.set({ projector: w.name, ...labels }, Number(behind));
            lag += behind;
            if (behind > 0n) waiting.push(`${topic}/${end.partition}`);
            const still = stillSince.get(`${w.group}:${key}`);
            if (!still || still.position !== position || behind === 0n) {
              stillSince.set(`${w.group}:${key}`, { position, since: now });
            } else if (now - still.since >= options.stallAfterMs) {
              stalls.push(`${w.name} is stalled on ${topic}/${end.partition} at offset ${position} for ${Math.round((now - still.since) / 1000)} s (${count(behind, 'offset')} to read): see the ${w.process} service's log`);
            }
          }
        }
        if (!members.length) {
          reasons.push(
            `${w.name} is dead: consumer group ${w.group} has no live member (state ${described?.state ?? 'unknown'})` +
              (lag ? `, ${count(lag, 'offset')} to read on ${waiting.join(', ')}` : '') + `: start the ${w.process} service (npm run service -- ${w.process})`,
          );
        } else {
          reasons.push(...stalls);
        }
        if (lag > BigInt(options.maxLag)) {
          reasons.push(`${w.name} is far behind: ${count(lag, 'offset')} to read, more than ${options.maxLag} (MAX_LAG): it needs more time, or a look at its log`);
        }
        consumers.push({ name: w.name, group: w.group, state: described?.state ?? 'unknown', members: members.length, lag: Number(lag) });
      }
    }
    reasons.push(...extra.filter((reason): reason is string => !!reason));
    return {
      ready: reasons.length === 0,
      reasons,
      kafka: kafka.ok ? 'ok' : 'unreachable',
      postgres: projectors.ok ? 'ok' : 'unreachable',
      sampledAt: new Date(now).toISOString(),
      consumers,
    };

    function countRejoins(w: Watched, memberIds: string[]) {
      const seen = membersSeen.get(w.group);
      if (!seen) return void membersSeen.set(w.group, new Set(memberIds)); // the first sample only learns
      for (const id of memberIds) {
        if (seen.has(id)) continue;
        seen.add(id);
        metrics.consumerRestarts.inc({ group: w.name });
      }
    }
  }

  async function loop(firstSampled: () => void) {
    while (!stopped) {
      const watchdog = setTimeout(() => {
        const silent = [...waitingFor];
        latest = {
          ...latest,
          ready: false,
          reasons: [`${silent.join(' and ')} gave no answer within ${answerWithinMs} ms: check that ${silent.length > 1 ? 'both are' : 'it is'} up and reachable`],
          kafka: waitingFor.has('Kafka') ? 'unreachable' : latest.kafka,
          postgres: waitingFor.has('PostgreSQL') ? 'unreachable' : latest.postgres,
        };
        firstSampled();
      }, answerWithinMs);
      latest = await sample().catch((error: Error) => ({ ...notSampled(), reasons: [`the health sampler failed: ${error.stack}`] }));
      clearTimeout(watchdog);
      firstSampled();
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, options.sampleMs);
      });
    }
  }

  let firstSampled = () => {};
  const first = new Promise<void>((resolve) => { firstSampled = resolve; });
  const looping = loop(firstSampled);
  await first;

  /** Reasons that change within a second, judged now from memory. */
  function reasonsNow(): string[] {
    const now = Date.now();
    const reasons: string[] = [];
    // Crashed, or no answer from Kafka for 2 s (consumer.ts): the sampler would tell a stopped broker only later.
    const own = deps.ownConsumer();
    if (own) reasons.push(`the gateway's own consumer ${own}: command replies and live updates are not arriving; check the broker (KAFKA_BROKERS)`);
    const groups: LivenessGroup[] = watchedNow().map((w) => ({
      name: w.name,
      group: w.group,
      process: w.process,
      topics: w.topics.map((logical) => ({ logical, physical: bus.topic(logical), partitions: partitionCounts.get(logical) })),
    }));
    reasons.push(...livenessReasons(groups, heartbeats.heard(), now, heartbeats.listeningSince()));
    return reasons;
  }

  return {
    latest() {
      const reasons = [...reasonsNow(), ...latest.reasons];
      return { ...latest, ready: reasons.length === 0, reasons };
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake();
      // A sample stuck on an unreachable broker is abandoned: disconnecting fails its calls.
      await Promise.race([looping, new Promise((resolve) => setTimeout(resolve, answerWithinMs).unref())]);
      await admin.disconnect();
      await heartbeats.close();
    },
  };
}

function notSampled(): HealthSample {
  return { ready: false, reasons: ['not sampled yet'], kafka: 'unreachable', postgres: 'unreachable', sampledAt: new Date().toISOString(), consumers: [] };
}

function count(n: bigint, noun: string): string {
  return `${n} ${noun}${n === 1n ? '' : 's'}`;
}

function max0(value: bigint): bigint {
  return value > 0n ? value : 0n;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: Error };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then((value) => ({ ok: true as const, value }), (error: Error) => ({ ok: false as const, error }));
}
