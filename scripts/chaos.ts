/**
 * `npm run chaos`: a fault test of the whole system, bounded in time, on loopback only.
 *
 * It runs a system of its own (its own broker, or with `--brokers 3` a KRaft cluster of three replicating every
 * topic 3 times with min.insync.replicas 2; its own database and topic prefix; the processes of `npm start` under
 * scripts/supervisor.ts), puts a steady load on every domain through GraphQL (orders and restocks, movie ratings,
 * drivers and riders), and in turn SIGKILLs each service and the gateway, restarts the broker (or, on a cluster,
 * SIGKILLs the broker that leads the most partitions and restarts it once the system recovered) and drops every
 * PostgreSQL connection, printing how long each fault took to recover from: until an order placed after the fault
 * is VALIDATED through the gateway. Once the load has stopped and the system is quiet it checks what must always
 * hold (one terminal state per accepted order, stock and reservations, each movie's count and sum = the ratings
 * accepted, no driver on two rides at once, no event id twice on any topic as a read_committed reader sees it,
 * projections = a fresh replay, nothing dead-lettered, no process crashed; on a cluster, every topic replicated
 * and every replica back in sync), prints it and exits 0 when all holds, 1 otherwise. It removes its processes,
 * topics, databases and brokers at the end, also on Ctrl-C.
 *
 *   npm run chaos [-- --duration <seconds>] [--clients <n>] [--brokers <n>]
 *                    [--faults kill:inventory,kill:gateway,broker,broker-leader,postgres]
 *                    [--kafka-port <port>] [--port <gateway port>]
 */
import { toolToken } from '../gateway/auth.ts';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createWriteStream, rmSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { dropDatabase, migrate } from '../infra/database.ts';
import { ensureKafka, type RunningKafka } from '../infra/kafka/broker.ts';
import { ensureSchemaRegistry, type RunningRegistry } from '../infra/registry/registry.ts';
import { leadersByNode, partitionStates, startKafkaCluster, type RunningCluster } from '../infra/kafka/cluster.ts';
import { DOMAINS, SERVICE_NAMES } from '../services/domains.ts';
import { ordersContract, TOPICS, type EventEnvelope } from '../services/orders/contract.ts';
import { loadProcesses } from '../services/runtimes.ts';
import { createBus, createKafka, deleteTopicsAndGroups, type Bus } from '../services/shared/bus.ts';
import { createPrisma, type PrismaClient } from '../services/shared/db.ts';
import { createSchemaRegistry } from '../services/shared/schemas.ts';
import type { Logger } from '../services/shared/log.ts';
import { decodeReply, RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { jsonOf, schemaIds } from '../services/shared/wire.ts';
import { startProjector, type ProjectionDefinition, type RunningProjector } from '../services/shared/projector.ts';
import {
  allLogicalTopics, catalogProjected, duplicateIds, ratingProblems, rideProblems, startRatingsLoad, startRidesLoad, writeChaosCatalog,
  type Answer, type Load, type RatingAttempt,
} from './chaos-domains.ts';
import { listDeadLetters } from './dead-letters.ts';
import { setUpSystem } from './setup.ts';
import { superviseProcesses, systemProcesses, type Supervisor } from './supervisor.ts';
import { readTopics, type LogMessage } from './topic-reader.ts';

const root = resolve(import.meta.dirname, '..');

export interface ChaosOptions {
  /** How long the order load runs, in ms (longer if the faults need it). Default: 100000. */
  durationMs?: number;
  /** Concurrent GraphQL clients placing orders. Default: 4. */
  clients?: number;
  /**
   * Which faults, in order: `kill:<process>`, `broker` (restart the one broker), `broker-leader` (on a cluster: SIGKILL
   * the broker leading the most partitions, restart it once an order validated again), `postgres`. Default: every
   * process killed, then the broker fault of the cluster (`broker` or `broker-leader`), then postgres.
   */
  faults?: string[];
  /** Brokers of the run's own Kafka: 1, or a KRaft cluster (replication min(3, n), min.insync.replicas 2). Default: 1. */
  brokers?: number;
  /**
   * Port of the chaos run's own broker (its controller takes the next one). With several brokers, the first of the
   * 2 × n consecutive ports the cluster takes (brokers, then controllers); free ones are picked when unset. Default: 9192.
   */
  kafkaPort?: number;
  /** Port of the chaos run's gateway. Default: 4200. */
  gatewayPort?: number;
  /** Progress lines. Default: stdout with `[chaos] `. */
  log?: (line: string) => void;
  /** Aborts the run (cleanup still happens). */
  signal?: AbortSignal;
}

export interface FaultResult {
  fault: string;
  /** From the fault until a fresh order reached a terminal state; null when it did not within the deadline. */
  recoveryMs: number | null;
  note: string;
}

export interface Invariant {
  name: string;
  ok: boolean;
  detail: string;
  /** Reported, but does not fail the run (behaviour the design allows, shown because it explains others). */
  informational?: boolean;
}

export interface ChaosReport {
  ok: boolean;
  faults: FaultResult[];
  invariants: Invariant[];
  load: { orders: number; answered: number; errors: Record<string, number>; stockAdds: number; ratings: string; rides: string };
  restarts: Record<string, number>;
  /** Every process's output, kept after the run. */
  logFile: string;
  durationMs: number;
}

const PRODUCTS = ['CHAOS-A', 'CHAOS-B', 'CHAOS-C', 'CHAOS-D'];
const INITIAL_STOCK = 40;
const RESTOCK = 5;
/** Orders that measure recovery go to a product that never runs out, so they always end VALIDATED. */
const PROBE_PRODUCT = 'CHAOS-PROBE';
const PROBE_STOCK = 1_000_000;
const RECOVERY_DEADLINE_MS = 120_000;
const QUIET_DEADLINE_MS = 90_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Probe orders waiting for their outcome at once while a recovery is measured. */
const PROBES_IN_FLIGHT = 6;
/** How long a restarted broker may take until every replica is in sync again. */
const ISR_DEADLINE_MS = 90_000;

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id state } }`;
const AWAIT = `query($id: ID!, $t: Int) { awaitOrder(id: $id, timeoutMs: $t) { state } }`;
const ADD = `mutation($p: String!, $q: Int!) { addInventory(product: $p, quantity: $q) { stock } }`;


interface OrderAttempt { id: string; product: string; quantity: number; answer?: Answer }
interface StockAttempt { product: string; quantity: number; answer?: Answer }

export function defaultFaults(brokers = 1): string[] {
  return [...systemProcesses([...SERVICE_NAMES], 'each').map((p) => `kill:${p.name}`), brokers > 1 ? 'broker-leader' : 'broker', 'postgres'];
}

/** Riders and drivers of the rides load (more riders than drivers, so rides wait for a driver), and rating clients. */
const RIDERS = 3;
const DRIVERS = 2;
const RATING_CLIENTS = 1;

export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const started = Date.now();
  const say = options.log ?? ((line: string) => console.log(`[chaos] ${line}`));
  const signal = options.signal ?? new AbortController().signal;
  // Every client of every load, and each probe, waits on it.
  setMaxListeners(200, signal);
  const brokerCount = options.brokers ?? 1;
  if (!Number.isInteger(brokerCount) || brokerCount < 1) throw new Error(`--brokers must be a whole number from 1, not ${brokerCount}`);
  const faults = options.faults ?? defaultFaults(brokerCount);
  const processNames = systemProcesses([...SERVICE_NAMES], 'each').map((p) => p.name);
  for (const fault of faults) {
    const known = fault === 'broker' || fault === 'broker-leader' || fault === 'postgres' || (fault.startsWith('kill:') && processNames.includes(fault.slice(5)));
    if (!known) throw new Error(`unknown fault "${fault}": use kill:<${processNames.join('|')}>, broker, broker-leader or postgres`);
    if (fault === 'broker' && brokerCount > 1) throw new Error('the fault "broker" restarts the one broker; on a cluster use broker-leader');
    if (fault === 'broker-leader' && brokerCount < 2) throw new Error('the fault "broker-leader" needs a cluster: pass --brokers 3');
  }
  const id = randomUUID().slice(0, 8);
  const prefix = `chaos-${id}.`;
  const databaseUrl = `postgresql://postgres@127.0.0.1:5432/gateway_chaos_${id}`;
  const replayUrl = `postgresql://postgres@127.0.0.1:5432/gateway_chaos_${id}_replay`;
  const kafkaPort = options.kafkaPort ?? (brokerCount > 1 ? undefined : 9192);
  const gatewayPort = options.gatewayPort ?? 4200;
  const url = `http://127.0.0.1:${gatewayPort}/graphql`;
  const logDir = resolve(root, '.data/chaos', id);
  mkdirSync(logDir, { recursive: true });
  const logFile = resolve(logDir, 'processes.log');
  const file = createWriteStream(logFile);
  const note = (line: string) => file.write(`${new Date().toISOString()} ${line}\n`);
  const sayAndNote = (line: string) => {
    say(line);
    note(`[chaos] ${line}`);
  };

  let kafka: RunningKafka | undefined;
  let cluster: RunningCluster | undefined;
  let supervisor: Supervisor | undefined;
  let bus: Bus | undefined;
  let stopLoad: (() => Promise<void>) | undefined;
  const orders: OrderAttempt[] = [];
  const stockAdds: StockAttempt[] = [];
  const ratings: RatingAttempt[] = [];
  let otherLoads: { ratings?: Load; rides?: Load } = {};
  /** On a cluster: how its topics were replicated at set-up (problems), checked with the other invariants. */
  let replicationProblems: string[] = [];
  const faultResults: FaultResult[] = [];
  let invariants: Invariant[] = [];
  const restarts: Record<string, number> = {};
  let registry: RunningRegistry | undefined;

  const startBroker = async () => {
    // Our own broker even when KAFKA_BROKERS points at a shared one: restarting that would disturb others.
    const saved = process.env.KAFKA_BROKERS;
    delete process.env.KAFKA_BROKERS;
    try {
      const running = await ensureKafka({ port: kafkaPort!, log: (line) => note(`[kafka] ${line}`) });
      if (!running.started) {
        throw new Error(`a broker already runs on port ${kafkaPort}; the chaos run restarts its broker, so it needs its own: pass --kafka-port`);
      }
      return running;
    } finally {
      if (saved !== undefined) process.env.KAFKA_BROKERS = saved;
    }
  };

  try {
    let brokers: string[];
    if (brokerCount > 1) {
      const ports = kafkaPort === undefined ? undefined : Array.from({ length: 2 * brokerCount }, (_, i) => kafkaPort + i);
      cluster = await startKafkaCluster({ nodes: brokerCount, ports, dataDir: resolve(logDir, 'kafka'), log: (line) => note(`[kafka] ${line}`) });
      brokers = cluster.brokers;
      sayAndNote(`run ${id}: ${brokerCount}-broker KRaft cluster on ${brokers.join(', ')} (replication ${cluster.replicationFactor}, min.insync.replicas ${cluster.minInsyncReplicas}), gateway on ${gatewayPort}, topics ${prefix}*, database gateway_chaos_${id}; logs in ${logFile}`);
    } else {
      sayAndNote(`run ${id}: broker on 127.0.0.1:${kafkaPort}, gateway on ${gatewayPort}, topics ${prefix}*, database gateway_chaos_${id}; logs in ${logFile}`);
      kafka = await startBroker();
      brokers = kafka.brokers;
    }
    registry = await ensureSchemaRegistry({ log: (line) => note(`[registry] ${line}`) });
    const env = {
      ...process.env,
      SCHEMA_REGISTRY_URL: registry.url,
      KAFKA_BROKERS: brokers.join(','),
      TOPIC_PREFIX: prefix,
      DATABASE_URL: databaseUrl,
      PORT: String(gatewayPort),
      LOG_LEVEL: 'info',
      // Replication as the system picks it by default (min(3, brokers), min.insync.replicas 2 when 3): checked below.
      KAFKA_REPLICATION_FACTOR: '',
      KAFKA_MIN_INSYNC_REPLICAS: '',
    };
    await withEnv(env, () => setUpSystem((line) => note(`[setup] ${line}`)));
    checkAborted(signal);
    bus = await createBus({ clientId: 'chaos', brokers, prefix });
    if (cluster) {
      replicationProblems = await topicReplicationProblems(bus, cluster.replicationFactor, cluster.minInsyncReplicas);
      sayAndNote(replicationProblems.length
        ? `the system's topics are NOT replicated as the cluster needs: ${replicationProblems.slice(0, 3).join('; ')}`
        : `every system topic has ${cluster.replicationFactor} replicas and min.insync.replicas ${cluster.minInsyncReplicas}`);
    }
    await writeChaosCatalog(bus);
    supervisor = superviseProcesses(systemProcesses([...SERVICE_NAMES], 'each'), {
      env,
      log: sayAndNote,
      output: (name, line) => file.write(`${new Date().toISOString()} [${name}] ${line}\n`),
    });
    await waitUntil(() => fetch(url.replace('/graphql', '/healthz')).then((r) => r.ok, () => false), 120_000, signal, 'the gateway to become healthy');
    sayAndNote(`system up in ${seconds(Date.now() - started)}; stocking ${PRODUCTS.join(', ')} with ${INITIAL_STOCK} each`);

    const gql = (query: string, variables: Record<string, unknown>) => graphql(url, query, variables);
    const addStock = async (product: string, quantity: number) => {
      const attempt: StockAttempt = { product, quantity };
      stockAdds.push(attempt);
      attempt.answer = await gql(ADD, { p: product, q: quantity });
      return attempt.answer;
    };
    const placeOrder = async (product: string, quantity: number) => {
      const attempt: OrderAttempt = { id: `chaos-order-${randomUUID()}`, product, quantity };
      orders.push(attempt);
      // Cheap prices: the fraud check passes; whether an order validates depends on stock alone.
      attempt.answer = await gql(PLACE, { input: { id: attempt.id, customerId: `customer-${randomUUID()}`, product, quantity, price: 1 } });
      return attempt;
    };
    for (const [product, quantity] of [...PRODUCTS.map((p) => [p, INITIAL_STOCK] as const), [PROBE_PRODUCT, PROBE_STOCK] as const]) {
      await waitUntil(async () => !(await addStock(product, quantity)).code, 60_000, signal, `stock for ${product}`);
    }

    /** Probe orders still waiting for their outcome (awaited when the load stops). */
    const probes = new Set<Promise<void>>();
    /**
     * From `since`, places a fresh probe order every 500 ms (at most PROBES_IN_FLIGHT waiting at once, so one stuck
     * behind a fault does not hide the next that goes through) until one is VALIDATED: the time from `since` until
     * that was seen (awaitOrder answers as soon as the projection has it), or null after the deadline.
     */
    const recovery = async (since: number): Promise<number | null> => {
      let validatedAt: number | undefined;
      let validated!: () => void;
      const seen = new Promise<void>((done) => (validated = done));
      const over = () => validatedAt !== undefined || Date.now() - since >= RECOVERY_DEADLINE_MS || signal.aborted;
      const probe = async () => {
        const attempt = await placeOrder(PROBE_PRODUCT, 1);
        if (attempt.answer?.code === 'NETWORK') return;
        while (!over()) {
          const settled = await gql(AWAIT, { id: attempt.id, t: 5_000 });
          const state = settled.data?.awaitOrder?.state;
          if (state === 'VALIDATED' && validatedAt === undefined) {
            validatedAt = Date.now();
            validated();
          }
          if (state === 'VALIDATED' || state === 'FAILED') return;
          if (settled.code === 'NETWORK') await pause(500, signal);
        }
      };
      while (!over()) {
        if (probes.size < PROBES_IN_FLIGHT) {
          const running: Promise<void> = probe().finally(() => probes.delete(running));
          probes.add(running);
        }
        await Promise.race([pause(500, signal), seen]);
      }
      return validatedAt === undefined ? null : validatedAt - since;
    };

    // The load: each client places an order on a random product, now and then restocks one.
    let loadRunning = true;
    const clients = Array.from({ length: options.clients ?? 4 }, async (_, client) => {
      for (let i = 0; loadRunning && !signal.aborted; i += 1) {
        const product = PRODUCTS[(client + i) % PRODUCTS.length];
        const answer = i % 10 === 9 ? await addStock(product, RESTOCK) : (await placeOrder(product, 1 + (i % 3))).answer;
        // While the gateway is down, knock less often: the recovery probe measures, the load only keeps it busy.
        await pause(answer?.code === 'NETWORK' ? 500 : 50, signal);
      }
    });
    // Ratings and rides beside the orders, once the chaos catalog has reached the projection.
    await waitUntil(() => catalogProjected(gql), 60_000, signal, 'the chaos movies in the catalog');
    otherLoads = {
      ratings: startRatingsLoad(gql, ratings, RATING_CLIENTS, (ms) => pause(ms, signal)),
      rides: startRidesLoad(gql, { drivers: DRIVERS, riders: RIDERS, runId: id }, (ms) => pause(ms, signal)),
    };
    const loadStarted = Date.now();
    const loadSummary = () => `${summary(orders)}; ${otherLoads.ratings!.summary()}; ${otherLoads.rides!.summary()}`;
    const progress = setInterval(() => say(`load: ${loadSummary()}`), 10_000);
    stopLoad = async () => {
      loadRunning = false;
      clearInterval(progress);
      await Promise.all([...clients, otherLoads.ratings?.stop(), otherLoads.rides?.stop()]);
      while (probes.size) await Promise.all(probes);
    };

    const durationMs = options.durationMs ?? 100_000;
    const warmUp = Math.min(5_000, durationMs / 4);
    const baseline = await recovery(Date.now());
    sayAndNote(`baseline: an order is VALIDATED in ${baseline === null ? 'never' : seconds(baseline)} under load`);
    const interval = (durationMs - warmUp) / (faults.length + 1);
    for (const [index, fault] of faults.entries()) {
      await pause(loadStarted + warmUp + index * interval - Date.now(), signal);
      checkAborted(signal);
      let t0 = Date.now();
      let what: string;
      /** What follows the recovery: a killed broker is started again and waited for until every replica is in sync. */
      let afterwards: (() => Promise<string>) | undefined;
      if (fault.startsWith('kill:')) {
        const name = fault.slice(5);
        what = `SIGKILL ${name} (pid ${supervisor.pid(name) ?? 'none: it was down'})`;
        supervisor.kill(name, 'SIGKILL');
      } else if (fault === 'broker') {
        what = 'broker restart';
        await kafka!.stop();
        kafka = await startBroker();
        what += ` (down ${seconds(Date.now() - t0)})`;
      } else if (fault === 'broker-leader') {
        const states = await partitionStates(bus.kafka);
        const ranking = leadersByNode(states, cluster!.nodes.map((n) => n.id));
        const victim = cluster!.nodes.find((n) => n.id === ranking[0].node)!;
        what = `SIGKILL broker ${victim.id} (${victim.address}, pid ${victim.pid()}), leader of ${ranking[0].leads} of ${states.length} partitions `
          + `(leaders: ${ranking.map((r) => `broker ${r.node} ${r.leads}`).join(', ')})`;
        t0 = Date.now();
        await victim.kill('SIGKILL');
        afterwards = async () => {
          const restarted = Date.now();
          await victim.start();
          const back = Date.now() - restarted;
          const inSync = await waitForReplicas(bus!, ISR_DEADLINE_MS, signal);
          return `broker ${victim.id} restarted in ${seconds(back)}, ${inSync === null ? `replicas NOT all in sync after ${seconds(ISR_DEADLINE_MS)}` : `every replica in sync ${seconds(inSync)} later`}`;
        };
      } else {
        what = `dropped ${await terminateConnections(databaseUrl)} PostgreSQL connections`;
      }
      sayAndNote(`fault ${index + 1}/${faults.length}: ${what}`);
      const recoveryMs = await recovery(t0);
      checkAborted(signal);
      sayAndNote(`fault ${index + 1}/${faults.length}: ${recoveryMs === null ? `NOT recovered within ${seconds(RECOVERY_DEADLINE_MS)}` : `recovered in ${seconds(recoveryMs)}: an order placed after it was VALIDATED`}`);
      if (afterwards) {
        const after = await afterwards();
        sayAndNote(`fault ${index + 1}/${faults.length}: ${after}`);
        what += `; ${after}`;
      }
      faultResults.push({ fault, recoveryMs, note: what });
    }
    await pause(loadStarted + durationMs - Date.now(), signal);
    await stopLoad();
    stopLoad = undefined;
    checkAborted(signal);
    sayAndNote(`load stopped: ${loadSummary()}; waiting for the system to be quiet`);

    const prisma = createPrisma(databaseUrl, { poolSize: 2 });
    try {
      const behind = await waitForQuiet(bus, prisma, signal);
      for (const lag of behind) note(`[chaos] still behind: ${lag}`);
      sayAndNote(!behind.length
        ? 'quiet: no order in progress, every service and projection at the end of its topics'
        : `NOT quiet after ${seconds(QUIET_DEADLINE_MS)}, checking anyway; still behind: ${behind.slice(0, 3).join('; ')}${behind.length > 3 ? ` (${behind.length} in all)` : ''}`);
      invariants = await checkInvariants({ bus, prisma, orders, stockAdds, ratings, replayUrl, id, note, signal });
      invariants.push(restartsAsKilled(processNames, (name) => supervisor!.restarts(name), faults));
      if (cluster) {
        invariants.push(invariant(`every system topic replicated ${cluster.replicationFactor} times with min.insync.replicas ${cluster.minInsyncReplicas}`, replicationProblems, 'as created at set-up'));
        const inSync = await waitForReplicas(bus, ISR_DEADLINE_MS, signal);
        const lagging = inSync === null ? (await partitionStates(bus.kafka)).filter((p) => p.isr.length < p.replicas.length) : [];
        invariants.push(invariant('every replica back in sync (the killed broker rejoined)',
          lagging.map((p) => `${p.topic}/${p.partition}: in sync ${p.isr.join(',')} of replicas ${p.replicas.join(',')}`),
          'every partition of every topic has all its replicas in sync'));
      }
    } finally {
      await prisma.$disconnect();
    }
    for (const i of invariants) sayAndNote(`${i.ok ? 'ok  ' : i.informational ? 'note' : 'FAIL'} ${i.name}: ${i.detail}`);
  } finally {
    await stopLoad?.().catch(() => {});
    for (const name of processNames) if (supervisor) restarts[name] = supervisor.restarts(name);
    if (supervisor) await supervisor.stop();
    await bus?.close();
    if (kafka) {
      await deleteTopicsAndGroups(createKafka('chaos-cleanup', kafka.brokers), prefix).catch((error: Error) => say(`could not delete topics: ${error.message}`));
      await kafka.stop();
      if (kafka.started) rmSync(resolve(root, '.data/kafka', String(kafkaPort)), { recursive: true, force: true });
    }
    // The whole cluster is the run's own: its data goes with it (the topics with it).
    await cluster?.stop({ remove: true });
    if (registry) {
      await createSchemaRegistry(registry.url).deleteSubjects(prefix).catch((error: Error) => say(`could not delete schemas: ${error.message}`));
      await registry.stop();
    }
    for (const db of [databaseUrl, replayUrl]) await dropDatabase(db).catch(() => {});
    await new Promise((r) => file.end(r));
    say(`cleaned up: processes stopped, topics, databases and the ${cluster ? 'cluster' : 'broker'} removed (${seconds(Date.now() - started)} in all)`);
  }
  const ok = invariants.length > 0 && invariants.every((i) => i.ok || i.informational) && faultResults.every((f) => f.recoveryMs !== null);
  return {
    ok,
    faults: faultResults,
    invariants,
    load: {
      orders: orders.length,
      answered: orders.filter((o) => o.answer && !o.answer.code).length,
      errors: countBy(orders.map((o) => o.answer?.code).filter((c): c is string => !!c)),
      stockAdds: stockAdds.length,
      ratings: otherLoads.ratings?.summary() ?? 'none',
      rides: otherLoads.rides?.summary() ?? 'none',
    },
    restarts,
    logFile,
    durationMs: Date.now() - started,
  };
}

/**
 * A process that exited without a fault killing it crashed: the supervisor restarting it must not hide that (a
 * projector's process once died of an unhandled PostgreSQL error this way, and every other invariant held).
 */
function restartsAsKilled(names: string[], restartsOf: (name: string) => number, faults: string[]): Invariant {
  const problems = names.flatMap((name) => {
    const killed = faults.filter((fault) => fault === `kill:${name}`).length;
    const restarts = restartsOf(name);
    return restarts > killed ? [`${name} was restarted ${restarts} time(s) and killed ${killed}: its log shows why it exited`] : [];
  });
  return {
    name: 'no process crashed (restarts = kills)',
    ok: !problems.length,
    detail: problems.length ? problems.join('; ') : 'every restart was of a process a fault killed',
  };
}

/**
 * Until no order is CREATED, every service's group has committed the end of its inputs and every projector stands
 * at the end of its topics: nothing (or, after the deadline, what is still behind). The end is the high watermark,
 * so a consumer must have moved past transaction markers too; an input still written while all else is quiet (the
 * rides clock, every second) counts as reached when its group stands where the previous look found its end.
 */
async function waitForQuiet(bus: Bus, prisma: PrismaClient, signal: AbortSignal): Promise<string[]> {
  const deadline = Date.now() + QUIET_DEADLINE_MS;
  const ends = new Map<string, bigint>();
  let behind: string[] = ['not looked yet'];
  while (Date.now() < deadline && !signal.aborted) {
    const inProgress = await prisma.order.count({ where: { state: 'CREATED' } }).catch(() => -1);
    behind = [
      ...(inProgress === 0 ? [] : [inProgress < 0 ? 'the orders projection cannot be read' : `${inProgress} order(s) CREATED`]),
      ...(await projectionsBehind(bus, prisma)),
    ];
    if (!behind.length) {
      behind = await servicesBehind(bus, ends);
      // A group's commit can fail (a coordinator moving) with nothing left to carry it to the next one: then a command
      // topic is consumed whole when every command on it has been answered.
      if (behind.length && behind.every((lag) => lag.startsWith('command topic')) && !(await unanswered(bus)).length) behind = [];
    }
    if (!behind.length) return [];
    await pause(500, signal);
  }
  return behind;
}

/**
 * Where a service's consumer group (named as the service) has not committed the end of one of its inputs. `ends`
 * holds the ends of the previous look and gets this one's.
 */
async function servicesBehind(bus: Bus, ends: Map<string, bigint>): Promise<string[]> {
  const behind: string[] = [];
  for (const service of DOMAINS.flatMap((contract) => contract.services)) {
    for (const topic of service.inputs.map(bus.topic)) {
      const committed = await bus.committedOffsets(service.name, topic).catch(() => null);
      for (const { partition, high } of await bus.topicOffsets(topic)) {
        const at = `${topic}/${partition}`;
        const end = BigInt(high);
        const before = ends.get(at);
        ends.set(at, end);
        const stands = committed?.get(partition) ?? 0n;
        const reached = stands >= end || (before !== undefined && before < end && stands >= before);
        if (!reached) {
          const kind = COMMAND_TOPICS.has(bus.logicalTopic(topic)) ? 'command topic' : 'topic';
          behind.push(`${kind} ${at}: group ${service.name} committed ${committed ? stands : 'unknown'}, the end is ${end}`);
        }
      }
    }
  }
  return behind;
}

/** The topics commands travel on (every command is answered on command.replies). */
const COMMAND_TOPICS = new Set(DOMAINS.flatMap((contract) => Object.values(contract.commands).map((spec) => (spec as { topic: string }).topic)));

/** Commands on the log without a reply. */
async function unanswered(bus: Bus): Promise<string[]> {
  const topics = [...COMMAND_TOPICS, RUNTIME_TOPICS.commandReplies].map(bus.topic);
  const messages = await readTopics(bus, topics).catch(() => null);
  if (!messages) return ['the command topics cannot be read'];
  const replies = bus.topic(RUNTIME_TOPICS.commandReplies);
  const answered = new Set(messages.filter((m) => m.topic === replies && m.value).map((m) => decodeReply(m.value).commandId));
  return messages.filter((m) => m.topic !== replies && m.value).flatMap((m) => {
    const { commandId } = jsonOf(schemaIds(), m.value) as { commandId?: string };
    return commandId && !answered.has(commandId) ? [`${m.topic}/${m.partition}@${m.offset}`] : [];
  });
}

/** Every projection of every domain (name and topics; loadProcesses has the code that applies them). */
const PROJECTIONS = DOMAINS.flatMap((contract) => contract.projections);

/** Where a projector (its offsets in `prisma`) does not stand at the end of one of its topics. */
async function projectionsBehind(bus: Bus, prisma: PrismaClient): Promise<string[]> {
  const behind: string[] = [];
  for (const projection of PROJECTIONS) {
    const rows = await prisma.projectionOffset.findMany({ where: { projector: bus.prefix + projection.name } }).catch(() => null);
    if (!rows) return [`the offsets of ${projection.name} cannot be read`];
    for (const topic of projection.topics.map(bus.topic)) {
      for (const { partition, high } of await bus.topicOffsets(topic)) {
        const stands = rows.find((r) => r.topic === topic && r.partition === partition)?.nextOffset ?? 0n;
        if (stands < BigInt(high)) behind.push(`${projection.name} stands at ${stands} of ${topic}/${partition}, which ends at ${high}`);
      }
    }
  }
  return behind;
}

interface CheckContext {
  bus: Bus;
  prisma: PrismaClient;
  orders: OrderAttempt[];
  stockAdds: StockAttempt[];
  ratings: RatingAttempt[];
  replayUrl: string;
  id: string;
  note: (line: string) => void;
  signal: AbortSignal;
}

/** An invariant from its problems (none: it holds). */
function invariant(name: string, problems: string[], okDetail: string, informational = false): Invariant {
  return {
    name,
    ok: !problems.length,
    detail: problems.length ? `${problems.length} problem(s), first: ${problems.slice(0, 3).join('; ')}` : okDetail,
    ...(informational ? { informational } : {}),
  };
}

/** Every system topic read whole, as a read_committed consumer sees it, by logical name. */
async function readLog(bus: Bus): Promise<Map<string, LogMessage[]>> {
  const logical = allLogicalTopics();
  const messages = await readTopics(bus, logical.map(bus.topic), 120_000);
  return new Map(logical.map((name) => [name, messages.filter((m) => m.topic === bus.topic(name))]));
}

function ordersEvents(log: Map<string, LogMessage[]>, topic: string): EventEnvelope[] {
  return (log.get(topic) ?? []).flatMap((message) => {
    const envelope = ordersContract.decode(message.value);
    return envelope.kind === 'event' ? [envelope] : [];
  });
}

async function checkInvariants(context: CheckContext): Promise<Invariant[]> {
  const { bus, prisma, orders, stockAdds } = context;
  const invariants: Invariant[] = [];
  const check = (name: string, problems: string[], okDetail: string, informational = false) => {
    // Every problem goes to the log file; the report shows the first few.
    for (const problem of problems) context.note(`[check] ${name}: ${problem}`);
    invariants.push(invariant(name, problems, okDetail, informational));
  };
  const topics = await readLog(bus);
  const readEvents = async (_: Bus, topic: string) => ordersEvents(topics, topic);

  // 0. What any reader of the log sees: each message once. A copy of an event (a service killed between its
  // publish and its commit decides the redelivered input again, with the same ids) is what exactly-once
  // transactions rule out; the runtime's readers skip copies, so the checks below count each id once.
  const duplicates = duplicateIds(bus, topics);
  check('no id twice on any topic (read_committed): events, commands, replies', duplicates.problems, duplicates.detail);

  // 1. One terminal state per order, in the log.
  const orderEvents = await readEvents(bus, TOPICS.orderEvents);
  const log = new Map<string, { created: number; terminal: string[]; product: string; quantity: number }>();
  for (const event of orderEvents) {
    const entry = log.get(event.aggregateId) ?? { created: 0, terminal: [], product: '', quantity: 0 };
    if (event.type === 'OrderCreated') Object.assign(entry, { created: entry.created + 1, product: event.data.product, quantity: event.data.quantity });
    if (event.type === 'OrderValidated' || event.type === 'OrderFailed') entry.terminal.push(event.type);
    log.set(event.aggregateId, entry);
  }
  const answered = orders.filter((o) => o.answer && !o.answer.code);
  const unsure = orders.filter((o) => o.answer?.code && log.has(o.id));
  const accepted = [...answered, ...unsure];
  const terminalProblems: string[] = [];
  for (const order of accepted) {
    const entry = log.get(order.id);
    if (!entry?.created) terminalProblems.push(`${order.id} was accepted but has no OrderCreated`);
    else if (entry.created !== 1) terminalProblems.push(`${order.id} was created ${entry.created} times`);
    if (entry && entry.terminal.length !== 1) terminalProblems.push(`${order.id} has ${entry.terminal.length} terminal events (${entry.terminal.join(', ') || 'none'})`);
  }
  for (const [orderId, entry] of log) {
    if (entry.created && entry.terminal.length !== 1) terminalProblems.push(`${orderId} (in the log) has ${entry.terminal.length} terminal events`);
  }
  check('one terminal state per accepted order (log)', [...new Set(terminalProblems)],
    `${accepted.length} accepted (${answered.length} answered, ${unsure.length} after an error but created), ${log.size} created in the log, each exactly one OrderValidated/OrderFailed`);

  // A service killed after publishing but before committing its offset decides the redelivered input again
  // and repeats its verdict (by design: at-least-once, state unchanged). Shown because a repeat arriving after
  // the terminal event is what makes a projection depend on timing.
  const verdicts = await readEvents(bus, TOPICS.orderValidations);
  const seen = new Map<string, EventEnvelope[]>();
  for (const verdict of verdicts) {
    if (verdict.type !== 'OrderCheckCompleted') continue;
    const slot = `${verdict.data.orderId}/${verdict.data.checkType}`;
    seen.set(slot, [...(seen.get(slot) ?? []), verdict]);
  }
  const repeats = [...seen].filter(([, events]) => events.length > 1);
  check('one verdict per order and check (log)', repeats.map(([slot, events]) =>
    `${slot} decided ${events.length} times (${events.map((e) => `${e.eventId} at ${e.occurredAt}, caused by ${e.causationId}`).join(' / ')})`),
  `${seen.size} verdicts, none repeated`, true);

  // 2. The projection agrees with the log.
  const rows = await prisma.order.findMany({ select: { id: true, state: true } });
  const projected = new Map(rows.map((r) => [r.id, r.state]));
  const projectionProblems: string[] = [];
  for (const [orderId, entry] of log) {
    const expected = entry.terminal[0] === 'OrderValidated' ? 'VALIDATED' : entry.terminal[0] === 'OrderFailed' ? 'FAILED' : 'CREATED';
    if (projected.get(orderId) !== expected) projectionProblems.push(`${orderId}: log ${expected}, projection ${projected.get(orderId) ?? 'missing'}`);
  }
  for (const orderId of projected.keys()) if (!log.has(orderId)) projectionProblems.push(`${orderId} is projected but not in the log`);
  check('the orders projection agrees with the log', projectionProblems, `${rows.length} orders, states as in the log`);

  // 3. Stock and reservations.
  const inventoryEvents = await readEvents(bus, TOPICS.inventoryEvents);
  const items = new Map((await prisma.inventoryItem.findMany()).map((i) => [i.product, i]));
  const stockProblems: string[] = [];
  const details: string[] = [];
  for (const product of [...PRODUCTS, PROBE_PRODUCT]) {
    const validated = [...log.values()].filter((e) => e.product === product && e.terminal[0] === 'OrderValidated');
    const reserved = validated.reduce((sum, e) => sum + e.quantity, 0);
    const added = inventoryEvents.filter((e) => e.type === 'StockAdded' && e.data.product === product);
    const addedInLog = added.reduce((sum, e) => sum + (e.type === 'StockAdded' ? e.data.quantity : 0), 0);
    // What clients were told, plus commands that answered an error but were applied (found by their id);
    // requests cut off without an answer (gateway killed) may or may not have been applied.
    const attempts = stockAdds.filter((a) => a.product === product);
    const told = attempts.filter((a) => a.answer && !a.answer.code);
    const appliedAfterError = attempts.filter((a) => a.answer?.commandId && added.some((e) => e.correlationId === a.answer!.commandId));
    const unknown = attempts.filter((a) => a.answer?.code && !a.answer.commandId);
    const expected = [...told, ...appliedAfterError].reduce((sum, a) => sum + a.quantity, 0);
    const item = items.get(product);
    if (!item) {
      stockProblems.push(`${product} has no inventory row`);
      continue;
    }
    if (item.reserved !== reserved) stockProblems.push(`${product}: reserved ${item.reserved}, VALIDATED orders hold ${reserved}`);
    if (item.stock !== addedInLog) stockProblems.push(`${product}: stock ${item.stock}, StockAdded events sum to ${addedInLog}`);
    const extra = addedInLog - expected;
    const slack = unknown.reduce((sum, a) => sum + a.quantity, 0);
    if (extra < 0 || extra > slack) stockProblems.push(`${product}: ${addedInLog} added in the log, clients were told ${expected} (+ up to ${slack} unanswered)`);
    if (item.reserved > item.stock) stockProblems.push(`${product}: oversold, ${item.reserved} reserved of ${item.stock}`);
    for (const [orderId, entry] of log) {
      if (entry.product !== product) continue;
      const count = (type: string) => inventoryEvents.filter((e) => e.type === type && 'orderId' in e.data && e.data.orderId === orderId).length;
      const [reservedTimes, released] = [count('StockReserved'), count('StockReleased')];
      if (reservedTimes > 1 || released > reservedTimes) stockProblems.push(`${orderId}: reserved ${reservedTimes} times, released ${released} times`);
    }
    details.push(`${product} ${item.reserved}/${item.stock}`);
  }
  check('reserved = VALIDATED quantities, stock = stock added (once each)', stockProblems, `reserved/stock: ${details.join(', ')}`);

  // 4. Projections equal a fresh replay of the log: what they say (states, verdicts, stock), then when (timestamps).
  const replay = await compareWithReplay(context);
  check('projections equal a fresh replay: content', replay.content, `${replay.tables.join(', ')}: same rows, same content`);
  check('projections equal a fresh replay: timestamps', replay.timestamps, 'updated_at and recorded_at identical too');

  // 5. Ratings: each movie counts exactly the ratings accepted.
  const rated = await ratingProblems(bus, prisma, topics, context.ratings);
  check("each movie's count and sum = the ratings accepted", rated.problems, rated.detail);

  // 6. Rides: a driver is never on two rides.
  const rides = await rideProblems(prisma, topics);
  check('no driver on two rides at once', rides.problems, rides.detail);

  // 7. Nothing set aside.
  const deadLetters = await listDeadLetters(bus);
  check('nothing dead-lettered', deadLetters.map((d) => `${d.id} from ${d.consumer}: ${d.reason}`), `${bus.topic(RUNTIME_TOPICS.deadLetters)} is empty`);
  return invariants;
}

/** When a projector wrote a row, not what it says. */
const TIME_COLUMNS = new Set(['updated_at', 'recorded_at']);

/** A row as JSON (bigint columns as their digits). */
const rowJson = (row: unknown) => JSON.stringify(row, (_, value) => (typeof value === 'bigint' ? value.toString() : value));

/** The primary key columns of a table. */
async function primaryKey(prisma: PrismaClient, table: string): Promise<string[]> {
  const rows = await prisma.$queryRawUnsafe<{ column: string }[]>(
    `SELECT a.attname AS column FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`, table);
  if (!rows.length) throw new Error(`table ${table} has no primary key to compare rows by`);
  return rows.map((r) => r.column);
}

/**
 * Rebuilds every domain's projections into a fresh database by running their projectors to the log's end, then
 * compares each table they write, row by row.
 */
async function compareWithReplay({ bus, replayUrl, id, note, signal, prisma: live }: CheckContext): Promise<{ content: string[]; timestamps: string[]; tables: string[] }> {
  await migrate(replayUrl);
  // Its own consumer groups: the live projectors keep theirs. Offsets and rows go to the replay database.
  const replayBus: Bus = { ...bus, createConsumer: (group, options) => bus.createConsumer(`replay-${id}.${group}`, options) };
  const replay = createPrisma(replayUrl, { poolSize: 2 });
  const logger: Logger = { info: (m) => note(`[replay] ${m}`), warn: (m) => note(`[replay] warn ${m}`), error: (m) => note(`[replay] error ${m}`) };
  const projectors: RunningProjector[] = [];
  try {
    const definitions: ProjectionDefinition[] = (await loadProcesses()).flatMap((p) => p.projections ?? []);
    for (const projection of definitions) projectors.push(await startProjector(projection, replayBus, replay, logger));
    await waitUntil(async () => !(await projectionsBehind(bus, replay)).length, 90_000, signal, 'the replay to reach the end of the log');
    const problems: string[] = [];
    const timestamps: string[] = [];
    for (const table of definitions.flatMap((d) => d.tables)) {
      const key = await primaryKey(live, table);
      const [a, b] = await Promise.all([live, replay].map((client) => client.$queryRawUnsafe<Record<string, unknown>[]>(`SELECT * FROM ${table} ORDER BY ${key.join(', ')}`)));
      const keyOf = (row: Record<string, unknown>) => key.map((k) => String(row[k])).join('/');
      const replayed = new Map(b.map((row) => [keyOf(row), rowJson(row)]));
      for (const row of a) {
        const other = replayed.get(keyOf(row));
        if (other === undefined) problems.push(`${table} ${keyOf(row)} is live but not in the replay`);
        else if (other !== rowJson(row)) {
          const columns = Object.keys(row).filter((c) => rowJson(row[c]) !== rowJson(JSON.parse(other)[c]));
          const differs = `${table} ${keyOf(row)} differs in ${columns.map((c) => `${c} (live ${rowJson(row[c])}, replay ${rowJson(JSON.parse(other)[c])})`).join(', ')}`;
          (columns.every((c) => TIME_COLUMNS.has(c)) ? timestamps : problems).push(differs);
        }
        replayed.delete(keyOf(row));
      }
      for (const k of replayed.keys()) problems.push(`${table} ${k} is in the replay but not live`);
    }
    return { content: problems, timestamps, tables: definitions.flatMap((d) => d.tables) };
  } finally {
    await Promise.allSettled(projectors.map((p) => p.stop()));
    await replay.$disconnect();
  }
}

/**
 * On a cluster: whether each system topic has `replicas` replicas on every partition and `min.insync.replicas`
 * `minInsync` (what a broker's death must not cost: a partition of one replica would go offline).
 */
async function topicReplicationProblems(bus: Bus, replicas: number, minInsync: number): Promise<string[]> {
  const topics = allLogicalTopics().map(bus.topic);
  const admin = bus.kafka.admin();
  await admin.connect();
  try {
    const problems: string[] = [];
    const metadata = await admin.fetchTopicMetadata({ topics });
    for (const topic of metadata.topics) {
      const wrong = topic.partitions.filter((p) => p.replicas.length !== replicas);
      if (wrong.length) problems.push(`${topic.name} has ${wrong[0].replicas.length} replica(s) on ${wrong.length} partition(s)`);
    }
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      // 2: ConfigResourceTypes.TOPIC (kafkajs's ESM entry does not export the enum).
      resources: topics.map((name) => ({ type: 2, name, configNames: ['min.insync.replicas'] })),
    });
    for (const resource of resources) {
      const value = resource.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
      if (value !== String(minInsync)) problems.push(`${resource.resourceName} has min.insync.replicas ${value}`);
    }
    return problems;
  } finally {
    await admin.disconnect();
  }
}

/** Until every partition of every topic has all its replicas in sync: how long that took, or null after `timeoutMs`. */
async function waitForReplicas(bus: Bus, timeoutMs: number, signal: AbortSignal): Promise<number | null> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs && !signal.aborted) {
    const states = await partitionStates(bus.kafka).catch(() => []);
    if (states.length && states.every((p) => p.isr.length === p.replicas.length)) return Date.now() - started;
    await pause(500, signal);
  }
  return null;
}

async function terminateConnections(databaseUrl: string): Promise<number> {
  const admin = new URL(databaseUrl);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    return rowCount ?? 0;
  } finally {
    await client.end();
  }
}

async function graphql(url: string, query: string, variables: Record<string, unknown>): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await toolToken()}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = (await response.json()) as { data?: any; errors?: { extensions?: { code?: string; commandId?: string } }[] };
    const error = body.errors?.[0];
    if (!error) return { data: body.data };
    return { data: body.data, code: error.extensions?.code ?? 'UNKNOWN', commandId: error.extensions?.commandId };
  } catch {
    return { code: 'NETWORK' };
  }
}

function summary(orders: OrderAttempt[]): string {
  const errors = countBy(orders.map((o) => o.answer?.code).filter((c): c is string => !!c));
  const answered = orders.filter((o) => o.answer && !o.answer.code).length;
  return `${orders.length} orders placed, ${answered} accepted${Object.keys(errors).length ? `, errors ${JSON.stringify(errors)}` : ''}`;
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** Runs `fn` with these variables in process.env (setUpSystem reads its configuration from there), then restores them. */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Waits `ms` (a schedule, not a condition); returns early when aborted. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      done();
    }
    signal.addEventListener('abort', finish, { once: true });
  });
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number, signal: AbortSignal, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    checkAborted(signal);
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds(timeoutMs)} waiting for ${what}`);
    await pause(250, signal);
  }
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Error('aborted');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function parseArgs(argv: string[]): ChaosOptions {
  const options: ChaosOptions = {};
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, value] = argv[i].includes('=') ? argv[i].split('=', 2) : [argv[i], argv[++i]];
    const number = () => {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number`);
      return n;
    };
    if (flag === '--duration') options.durationMs = number() * 1000;
    else if (flag === '--clients') options.clients = Math.round(number());
    else if (flag === '--faults') options.faults = (value ?? '').split(',').filter(Boolean);
    else if (flag === '--kafka-port') options.kafkaPort = number();
    else if (flag === '--brokers') {
      options.brokers = number();
      if (!Number.isInteger(options.brokers)) throw new Error('--brokers needs a whole number');
    }
    else if (flag === '--port') options.gatewayPort = number();
    else throw new Error(`unknown option ${flag}`);
  }
  return options;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  let options: ChaosOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\nusage: npm run chaos [-- --duration <s>] [--clients <n>] [--brokers <n>] [--faults ${defaultFaults().join(',')}|broker-leader] [--kafka-port <port>] [--port <port>]`);
    process.exit(2);
  }
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) return;
    console.log('[chaos] interrupted: cleaning up…');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await runChaos({ ...options, signal: abort.signal });
    console.log('');
    console.log('[chaos] recovery times:');
    for (const f of report.faults) console.log(`[chaos]   ${f.fault.padEnd(20)} ${f.recoveryMs === null ? 'NOT RECOVERED' : seconds(f.recoveryMs)}  (${f.note})`);
    for (const f of report.faults.filter((f) => f.fault === 'broker-leader')) {
      console.log(`[chaos] broker failover: from the SIGKILL to the next VALIDATED order ${f.recoveryMs === null ? 'NEVER' : seconds(f.recoveryMs)}`);
    }
    console.log(`[chaos] load: ${report.load.orders} orders (${report.load.answered} answered without error, errors ${JSON.stringify(report.load.errors)}), ${report.load.stockAdds} restocks; ${report.load.ratings}; ${report.load.rides}`);
    console.log(`[chaos] restarts: ${Object.entries(report.restarts).map(([n, c]) => `${n} ${c}`).join(', ')}`);
    const held = report.invariants.filter((i) => !i.informational);
    console.log(`[chaos] invariants: ${held.filter((i) => i.ok).length}/${held.length} hold`);
    console.log(`[chaos] ${report.ok ? 'PASS' : 'FAIL'} in ${seconds(report.durationMs)}; process logs: ${report.logFile}`);
    process.exit(report.ok ? 0 : 1);
  } catch (error) {
    console.error(`[chaos] ${abort.signal.aborted ? 'interrupted' : `failed: ${(error as Error).stack}`}`);
    process.exit(1);
  }
}
