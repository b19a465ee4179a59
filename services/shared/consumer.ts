/**
 * A consumer group member that lives as long as its process: kafkajs just stops after a non-retriable crash, so a
 * crashed or silent member (SILENT_MEMBER_MS) is replaced by a fresh one, with backoff.
 *
 * Offsets are committed here, not by kafkajs, which commits after every fetched batch (about one message under
 * load). Here: at most once a second, soon after the last message (readiness compares committed offsets with the
 * log's end), on rebalance and on stop. Consumers are idempotent on redelivery. `offsets: 'handler'` leaves
 * commits to the handler's Kafka transaction (service.ts).
 */
import type { Consumer, ConsumerRunConfig, EachBatchPayload, EachMessagePayload, PartitionAssigner } from 'kafkajs';
import { joined, LEAVE_GROUP_TIMEOUT_MS, type Bus } from './bus.ts';
import { withinTime } from './errors.ts';
import { backoffMs } from './retry.ts';
import { seconds, type ConsumerHealth } from './liveness.ts';
import type { Logger } from './log.ts';

/** While messages keep coming, processed offsets are committed at most this often, in ms. */
const COMMIT_EVERY_MS = 1_000;
/** ... and this long after the last processed message when nothing more came meanwhile. */
const COMMIT_WHEN_IDLE_MS = 200;
/** On stop, how long to wait for the messages being handled before committing and leaving, in ms. */
const STOP_WAIT_MS = 10_000;
/** Before replacing a crashed member, or trying again to: 100 ms, 200 ms, … at most 5 s. */
const RESTART_PAUSES = { firstMs: 100, maxMs: 5_000 };
/**
 * Silent this long with no handler running: stuck (a chaos run in CI saw members go silent after a broker restart),
 * replaced. An idle member fetches every maxWaitTimeInMs, so a healthy one is never this quiet.
 */
const SILENT_MEMBER_MS = 60_000;
const WATCH_EVERY_MS = 5_000;
/**
 * Unanswered by Kafka this long with no handler running: reported as not consuming (a stopped broker shows within
 * 3 s). A running handler counts as consuming; readiness names one that does not move as stalled.
 */
const QUIET_AFTER_MS = 2_000;
/** How long a handler's heartbeat may go unanswered before it fails the batch (kafkajs's request timeout is 30 s). */
const HEARTBEAT_WAIT_MS = 30_000;
/** A commit unanswered this long is given up (the next one carries it): kafkajs retries for minutes, blocking stop(). */
const COMMIT_WAIT_MS = 10_000;

export interface ConsumerSpec {
  /** The consumer group, without the topic prefix. */
  group: string;
  topics: readonly string[];
  fromBeginning: boolean;
  /** How the group's members share partitions (default: kafkajs's round robin). */
  partitionAssigners?: PartitionAssigner[];
  /** How long a member may go without a sign of life while no handler runs before it is replaced. Default: SILENT_MEMBER_MS. */
  silentMemberMs?: number;
  /** 'runtime' (default) commits processed offsets here; 'handler' commits them with its outputs (sendOffsets). */
  offsets?: 'runtime' | 'handler';
  /** Called with every new consumer before it runs, e.g. to listen to its group events. */
  prepare?(consumer: Consumer): void;
  /**
   * How the member consumes. autoCommit is ignored: committed are messages eachMessage returned from, offsets
   * eachBatch resolved, and (unless eachBatchAutoResolve is false) batches eachBatch returned from.
   */
  run(member: Consumer): ConsumerRunConfig;
}

export interface RunningConsumer {
  stop(): Promise<void>;
  /** How the member fares now, for its process's heartbeat. */
  health(): ConsumerHealth;
}

/** Starts the consumer and resolves once it has joined its group. */
export async function runConsumer(bus: Bus, spec: ConsumerSpec, log: Logger): Promise<RunningConsumer> {
  let consumer: Consumer | undefined;
  let stopped = false;
  let restarts = 0;
  const commits = spec.offsets === 'handler' ? NO_COMMITS : createCommitter(spec.group, log);
  /** Handlers running now, and what to call once there are none (on stop). */
  let handling = 0;
  let drained: (() => void) | undefined;

  /** Replaced members: kafkajs's disconnect does not stop a reconnect under way, so one may come back and is sent away. */
  const retired = new WeakSet<Consumer>();

  /** The spec's handlers, reporting what they processed to the committer; none starts once stopping, nor for a retired member. */
  function committing(config: ConsumerRunConfig, member: Consumer): ConsumerRunConfig {
    const { eachBatch, eachMessage } = config;
    const handled = async (handle: () => Promise<void>) => {
      handling += 1;
      try {
        await handle();
      } finally {
        handling -= 1;
        if (!handling) drained?.();
      }
    };
    return {
      ...config,
      autoCommit: false,
      ...(eachBatch && {
        eachBatch: async (payload: EachBatchPayload) => {
          if (stopped || retired.has(member)) return; // not committed: the next member of the group gets it
          const { topic, partition } = payload.batch;
          await handled(async () => {
            await eachBatch({
              ...payload,
              resolveOffset: (offset) => {
                payload.resolveOffset(offset);
                commits.processed(topic, partition, offset);
              },
              // Bounded, so that a handler never waits on its coordinator without end (the watchdog spares a running handler).
              heartbeat: () => withinTime(HEARTBEAT_WAIT_MS, `a heartbeat of group ${spec.group}`, payload.heartbeat()),
            });
            if (config.eachBatchAutoResolve !== false && payload.batch.messages.length) commits.processed(topic, partition, payload.batch.lastOffset());
          });
        },
      }),
      ...(eachMessage && {
        eachMessage: async (payload: EachMessagePayload) => {
          if (stopped || retired.has(member)) return;
          await handled(async () => {
            await eachMessage(payload);
            commits.processed(payload.topic, payload.partition, payload.message.offset);
          });
        },
      }),
    };
  }

  /** When the current member last showed it is alive (kafkajs's own reconnects count: its retries are left alone). */
  let lastSign = Date.now();
  /** Per member, for the heartbeat: when Kafka last answered it, what it was given at its last join, its crash since. */
  const states = new WeakMap<Consumer, { lastAnswer: number; assigned: Record<string, number[]>; joinedAt?: number; crash?: string; rejoining: boolean }>();
  const watchdog = setInterval(() => {
    const silent = Date.now() - lastSign;
    if (stopped || handling || !consumer || silent < (spec.silentMemberMs ?? SILENT_MEMBER_MS)) return;
    log.error(`consumer ${spec.group} has neither fetched nor heard from its group in ${Math.round(silent / 1000)} s; replacing it`);
    lastSign = Date.now();
    void replace(consumer);
  }, Math.min(WATCH_EVERY_MS, spec.silentMemberMs ?? WATCH_EVERY_MS)).unref();

  async function start(): Promise<Consumer> {
    const next = bus.createConsumer(spec.group, { partitionAssigners: spec.partitionAssigners });
    commits.attach(next);
    spec.prepare?.(next);
    for (const sign of [next.events.FETCH, next.events.HEARTBEAT, next.events.GROUP_JOIN, next.events.END_BATCH_PROCESS, next.events.CONNECT, next.events.CRASH]) {
      next.on(sign, () => { if (consumer === next || !consumer) lastSign = Date.now(); });
    }
    const state = { lastAnswer: Date.now(), assigned: {} as Record<string, number[]>, joinedAt: undefined as number | undefined, crash: undefined as string | undefined, rejoining: false };
    states.set(next, state);
    // kafkajs reports a request once its answer has arrived.
    next.on(next.events.REQUEST, () => { state.lastAnswer = Date.now(); });
    next.on(next.events.GROUP_JOIN, ({ payload }) => {
      state.assigned = payload.memberAssignment;
      state.joinedAt = Date.now();
      state.crash = undefined;
      state.rejoining = false;
    });
    next.on(next.events.REBALANCING, () => { state.rejoining = true; });
    next.on(next.events.CRASH, ({ payload }) => { state.crash = payload.error.message; });
    for (const comeback of [next.events.FETCH_START, next.events.GROUP_JOIN]) {
      next.on(comeback, () => {
        if (!retired.has(next)) return;
        log.warn(`a replaced member of group ${spec.group} reconnected by itself; sending it away again`);
        void leave(next);
      });
    }
    next.on(next.events.CRASH, ({ payload }) => {
      if (stopped || payload.restart) return; // kafkajs restarts this one itself
      restarts += 1;
      const delay = backoffMs(restarts, RESTART_PAUSES);
      log.error(`consumer ${spec.group} crashed (${payload.error.message}); starting a new one in ${delay} ms (restart ${restarts})`);
      setTimeout(() => void replace(next), delay).unref();
    });
    try {
      await next.connect();
      for (const topic of spec.topics) await next.subscribe({ topic: bus.topic(topic), fromBeginning: spec.fromBeginning });
      const ready = joined(next);
      await next.run(committing(spec.run(next), next));
      await ready;
      return next;
    } catch (error) {
      retired.add(next);
      await leave(next); // not left running beside its replacement
      throw error;
    }
  }

  /** Whether a replacement is under way: the watchdog and a crash may both ask for one. */
  let replacing = false;

  async function replace(crashed: Consumer) {
    if (stopped || consumer !== crashed || replacing) return;
    replacing = true;
    try {
      retired.add(crashed);
      await leave(crashed);
      consumer = await start();
      lastSign = Date.now();
      if (stopped) await leave(consumer); // stopped meanwhile: stop() left the one before
      else log.info(`consumer ${spec.group} is consuming again`);
    } catch (error) {
      log.error(`consumer ${spec.group} could not restart (${(error as Error).message}); trying again`);
      restarts += 1;
      setTimeout(() => void replace(crashed), backoffMs(restarts, RESTART_PAUSES)).unref();
    } finally {
      replacing = false;
    }
  }

  /** Leaves the group, or gives the member up if leaving hangs too. */
  const leave = (member: Consumer) => withinTime(LEAVE_GROUP_TIMEOUT_MS, `leaving group ${spec.group}`, member.disconnect()).catch(() => {});

  consumer = await start();
  return {
    health() {
      // The member being replaced after a crash stays current until its replacement has joined.
      const { lastAnswer, assigned, joinedAt, crash, rejoining } = states.get(consumer!)!;
      const now = Date.now();
      const quietMs = now - lastAnswer;
      let problem: string | undefined;
      if (stopped) problem = 'is stopping';
      else if (crash !== undefined) problem = `crashed (${crash}) and is restarting`;
      else if (!handling && quietMs > QUIET_AFTER_MS) {
        // Unanswered while rejoining too: a Heartbeat that cannot reach its broker starts a rejoin (kafkajs-patches.ts).
        problem = `has had no answer from Kafka for ${seconds(quietMs)}${rejoining ? ' (rejoining its group)' : ''}`;
      }
      return { group: bus.prefix + spec.group, problem, topics: spec.topics.map(bus.topic), assigned, joinedMsAgo: joinedAt === undefined ? undefined : now - joinedAt };
    },
    async stop() {
      stopped = true;
      clearInterval(watchdog);
      // What is being handled finishes first, so that it is committed too (a handler stuck retrying is not waited for).
      if (handling) await withinTime(STOP_WAIT_MS, 'finishing the batch being handled', new Promise<void>((resolve) => { drained = resolve; })).catch(() => {});
      await commits.flush();
      commits.stop();
      if (consumer) await leave(consumer);
    },
  };
}

/** The committer of a consumer whose handler commits its offsets itself. */
const NO_COMMITS: ReturnType<typeof createCommitter> = { attach() {}, processed() {}, flush: async () => {}, stop() {} };

/**
 * Commits the offsets a member processed. Only partitions assigned at its last join: committing for one another
 * member now reads would move that member's position.
 */
function createCommitter(group: string, log: Logger) {
  const key = (topic: string, partition: number) => `${topic}:${partition}`;
  /** Per assigned partition (`topic:partition`): the next offset to read, once everything before it is processed. */
  const processed = new Map<string, { topic: string; partition: number; offset: string }>();
  /** Per partition, the offset this member last committed. */
  const committed = new Map<string, string>();
  let assigned = new Set<string>();
  let member: Consumer | undefined;
  let soon: NodeJS.Timeout | undefined; // COMMIT_WHEN_IDLE_MS after the last processed message
  let due: NodeJS.Timeout | undefined; // COMMIT_EVERY_MS after the first uncommitted one
  let committing: Promise<void> = Promise.resolve();
  let stopped = false;

  async function commit(): Promise<void> {
    const pending = [...processed].filter(([at, { offset }]) => committed.get(at) !== offset);
    if (!pending.length || !member) return;
    try {
      await withinTime(COMMIT_WAIT_MS, `committing the offsets of group ${group}`, member.commitOffsets(pending.map(([, position]) => position)));
      for (const [at, { offset }] of pending) committed.set(at, offset);
    } catch (error) {
      // E.g. the group rebalancing meanwhile: what the member still holds is committed with its next offsets.
      log.warn(`could not commit the offsets of consumer group ${group} (${(error as Error).message}); the next commit carries them`);
    }
  }

  /** Commits everything processed so far; commits run one after another, so none overtakes an earlier one. */
  function flush(): Promise<void> {
    clearTimeout(soon);
    clearTimeout(due);
    soon = due = undefined;
    committing = committing.then(commit);
    return committing;
  }

  return {
    /** Follows a new member of the group (the first, or one replacing a crashed one). */
    attach(next: Consumer) {
      member = next;
      committed.clear(); // what the broker holds is unknown to this member: its first commit says it again
      next.on(next.events.GROUP_JOIN, ({ payload }) => {
        assigned = new Set(Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => key(topic, p))));
        for (const at of [...processed.keys()]) {
          if (assigned.has(at)) continue;
          processed.delete(at);
          committed.delete(at);
        }
      });
      // Partitions may be about to move to another member: it starts where this one committed.
      next.on(next.events.REBALANCING, () => void flush());
    },
    /** Everything up to and including `offset` of this partition is processed. */
    processed(topic: string, partition: number, offset: string) {
      const at = key(topic, partition);
      if (stopped || !assigned.has(at)) return; // after the last commit, or a batch fetched before the partition moved
      processed.set(at, { topic, partition, offset: (BigInt(offset) + 1n).toString() });
      clearTimeout(soon);
      soon = setTimeout(() => void flush(), COMMIT_WHEN_IDLE_MS).unref();
      due ??= setTimeout(() => void flush(), COMMIT_EVERY_MS).unref();
    },
    flush,
    stop() {
      stopped = true;
      clearTimeout(soon);
      clearTimeout(due);
    },
  };
}
