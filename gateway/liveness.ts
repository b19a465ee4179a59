/**
 * The processes' heartbeats (services/shared/liveness.ts), the last of each instance kept in memory so `/readyz`
 * judges liveness without I/O. A group is served when its live, healthy instances hold every partition between
 * them: an instance killed among several makes readiness false until its partitions are handed out (10 s).
 */
import { LIVENESS_CHANNEL, seconds, SILENT_AFTER_MS, type ConsumerHealth, type Heartbeat } from '../services/shared/liveness.ts';
import { keepListening } from './listen.ts';

/** A silent instance is forgotten after this long (its age stays on /metrics until then). */
const FORGET_AFTER_MS = 60_000;
/** The first wait before listening again after the LISTEN connection failed; twice as long after each failure, up to 5 s. */
const RELISTEN_MS = 500;

/** An instance of a process, as its heartbeats tell it. */
export interface HeardInstance {
  instance: string;
  process: string;
  pid: number;
  host: string;
  /** When its last heartbeat arrived, by this gateway's clock (never the sender's: clocks differ). */
  heardAt: number;
  /** Its consumers, by consumer group, with when each last joined its group by this gateway's clock. */
  consumers: Map<string, ConsumerHealth & { joinedAt?: number }>;
}

/** A consumer group readiness wants served, with the partitions of each topic it reads. */
export interface LivenessGroup {
  name: string;
  /** With the topic prefix. */
  group: string;
  /** The service to start when no process runs it (`npm run service -- <process>`). */
  process: string;
  /** `partitions` undefined: not known yet (Kafka not sampled), so not checked. */
  topics: { logical: string; physical: string; partitions: number | undefined }[];
}

export interface HeartbeatListener {
  /** The instances heard from in the last FORGET_AFTER_MS, stopped ones excluded. */
  heard(): HeardInstance[];
  /** Since when every heartbeat sent reaches this gateway; undefined while its LISTEN connection is down. */
  listeningSince(): number | undefined;
  close(): Promise<void>;
}

/** Listens to the heartbeats on `databaseUrl`; never fails: while it cannot listen, listeningSince() says so. */
export function listenToHeartbeats(databaseUrl: string): HeartbeatListener {
  const instances = new Map<string, HeardInstance>();
  let since: number | undefined;

  function hear(payload: string) {
    let beat: Heartbeat;
    try {
      beat = JSON.parse(payload) as Heartbeat;
    } catch {
      return; // not ours to judge: a heartbeat is written by the runtime only
    }
    if (beat.stopping) return void instances.delete(beat.instance);
    const known = instances.get(beat.instance);
    const heard: HeardInstance = known ?? { instance: beat.instance, process: beat.process, pid: beat.pid, host: beat.host, heardAt: 0, consumers: new Map() };
    heard.heardAt = Date.now();
    for (const consumer of beat.consumers) {
      heard.consumers.set(consumer.group, { ...consumer, joinedAt: consumer.joinedMsAgo === undefined ? undefined : heard.heardAt - consumer.joinedMsAgo });
    }
    instances.set(beat.instance, heard);
  }

  const listener = keepListening(databaseUrl, LIVENESS_CHANNEL, { firstMs: RELISTEN_MS, maxMs: 5_000 }, {
    heard: (payload) => hear(payload),
    listening: () => { since = Date.now(); },
    lost: () => { since = undefined; },
  });
  void listener.listenUntilListening();
  return {
    heard() {
      const now = Date.now();
      for (const [id, heard] of instances) if (now - heard.heardAt > FORGET_AFTER_MS) instances.delete(id);
      return [...instances.values()];
    },
    listeningSince: () => since,
    close: () => listener.close(),
  };
}

/**
 * Why the groups are not all served, one sentence each; empty when all are. Silence counts only from
 * `listeningSince`: heartbeats sent while the gateway could not hear are lost, not missing.
 */
export function livenessReasons(groups: LivenessGroup[], heard: HeardInstance[], now: number, listeningSince: number | undefined): string[] {
  if (listeningSince === undefined) {
    return ["cannot hear the processes' heartbeats: the gateway's LISTEN connection to PostgreSQL is down (it reconnects by itself): check DATABASE_URL and the server"];
  }
  const silentFor = (instance: HeardInstance) => now - Math.max(instance.heardAt, listeningSince);
  const live = heard.filter((instance) => silentFor(instance) <= SILENT_AFTER_MS);
  const silent = heard.filter((instance) => silentFor(instance) > SILENT_AFTER_MS);
  const reasons: string[] = [];
  /** Per live instance, what is wrong with the consumers no other instance stands in for. */
  const problems = new Map<HeardInstance, string[]>();
  /** Per silent instance, the groups it ran that no live instance runs. */
  const orphans = new Map<HeardInstance, string[]>();
  const add = <K>(map: Map<K, string[]>, key: K, item: string) => map.set(key, [...(map.get(key) ?? []), item]);
  let waiting = false;

  for (const g of groups) {
    const members = live.flatMap((instance) => {
      const consumer = instance.consumers.get(g.group);
      return consumer ? [{ instance, consumer }] : [];
    });
    const serving = members.filter(({ consumer }) => consumer.problem === undefined);
    // A member that joined after a silent instance's last heartbeat joined without it: that one holds nothing any more.
    const current = (instance: HeardInstance) =>
      !heard.some((other) => other !== instance && (other.consumers.get(g.group)?.joinedAt ?? 0) > instance.heardAt);
    if (!serving.length) {
      for (const { instance, consumer } of members) add(problems, instance, `${g.name} ${consumer.problem}`);
      const ranIt = silent.filter((instance) => instance.consumers.has(g.group) && current(instance));
      if (!members.length) for (const instance of ranIt) add(orphans, instance, g.name);
      if (!members.length && !ranIt.length) {
        if (now - listeningSince <= SILENT_AFTER_MS) waiting = true;
        else reasons.push(`${g.name} runs in no process (no heartbeat names it): start the ${g.process} service (npm run service -- ${g.process})`);
      }
      continue;
    }
    // Only the topics its members read (a service running as one aggregate has no repartition topic).
    const read = new Set(serving.flatMap(({ consumer }) => consumer.topics));
    const missing: { topic: LivenessGroup['topics'][number]; partitions: number[] }[] = [];
    for (const topic of g.topics.filter((t) => read.has(t.physical))) {
      const partitions = Array.from({ length: topic.partitions ?? 0 }, (_, p) => p)
        .filter((p) => !serving.some(({ consumer }) => consumer.assigned[topic.physical]?.includes(p)));
      if (partitions.length) missing.push({ topic, partitions });
    }
    if (!missing.length) continue;
    const holders = silent.filter((instance) => current(instance) && missing.some(({ topic, partitions }) =>
      partitions.some((p) => instance.consumers.get(g.group)?.assigned[topic.physical]?.includes(p))));
    const which = missing.map(({ topic, partitions }) => `${topic.logical}/${partitions.join(',')}`).join(' ');
    reasons.push(holders.length
      ? `${g.name} has no live member for ${which}: ${holders.map((h) => `${describe(h)}, silent for ${seconds(silentFor(h))},`).join(' and ')} held them; ` +
        'its group hands them to the live members once that member\'s session times out'
      : `${g.name} has no live member for ${which}: its group is handing them out (a rebalance)`);
  }

  for (const [instance, names] of orphans) {
    reasons.push(
      `${describe(instance)} has sent no heartbeat for ${seconds(silentFor(instance))}, and no live process runs ${names.join(', ')} in its stead: ` +
        'it died or hangs; restart it (npm start and docker compose restart a process that exits)',
    );
  }
  for (const [instance, found] of problems) reasons.push(`${describe(instance)}: ${found.join('; ')}`);
  if (waiting) reasons.push(`waiting for the processes' first heartbeats (listening for ${seconds(now - listeningSince)}; they come every second)`);
  return reasons;
}

function describe(instance: HeardInstance): string {
  return `process ${instance.process} (pid ${instance.pid} on ${instance.host})`;
}
