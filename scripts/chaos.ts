/**
 * `npm run chaos`: a fault test of the whole system, bounded in time, on loopback only.
 *
 * It runs a system of its own (its own broker, database and topic prefix; the processes of `npm start` under
 * scripts/supervisor.ts), puts a steady order load on it through GraphQL, and in turn SIGKILLs each service
 * and the gateway, restarts the broker and drops every PostgreSQL connection, printing how long each fault
 * took to recover from: until an order placed after the fault reaches VALIDATED or FAILED through the gateway.
 * Once the load has stopped and the system is quiet it checks what must always hold (one terminal state per
 * accepted order, stock and reservations, projections = a fresh replay, nothing dead-lettered, no process crashed), prints it and
 * exits 0 when all holds, 1 otherwise. It removes its processes, topics, databases and broker at the end, also
 * on Ctrl-C.
 *
 *   npm run chaos [-- --duration <seconds>] [--clients <n>] [--faults kill:inventory,kill:gateway,broker,postgres]
 *                    [--kafka-port <port>] [--port <gateway port>]
 */
import { toolToken } from '../gateway/auth.ts';
import { randomUUID } from 'node:crypto';
import { createWriteStream, rmSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { dropDatabase, migrate } from '../infra/database.ts';
import { ensureKafka, type RunningKafka } from '../infra/kafka/broker.ts';
import { SERVICE_NAMES } from '../services/domains.ts';
import { inventoryProjection } from '../services/orders/projections/inventory.ts';
import { ordersProjection } from '../services/orders/projections/orders.ts';
import { ordersContract, TOPICS, type EventEnvelope } from '../services/orders/contract.ts';
import { createBus, createKafka, deleteTopicsAndGroups, type Bus } from '../services/shared/bus.ts';
import { createPrisma, type PrismaClient } from '../services/shared/db.ts';
import type { Logger } from '../services/shared/log.ts';
import { RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { startProjector, type RunningProjector } from '../services/shared/projector.ts';
import { listDeadLetters } from './dead-letters.ts';
import { setUpSystem } from './setup.ts';
import { superviseProcesses, systemProcesses, type Supervisor } from './supervisor.ts';
import { readTopic } from './topic-reader.ts';

const root = resolve(import.meta.dirname, '..');

export interface ChaosOptions {
  /** How long the order load runs, in ms (longer if the faults need it). Default: 100000. */
  durationMs?: number;
  /** Concurrent GraphQL clients placing orders. Default: 4. */
  clients?: number;
  /** Which faults, in order: `kill:<process>`, `broker`, `postgres`. Default: every process killed, then broker, then postgres. */
  faults?: string[];
  /** Port of the chaos run's own broker (its controller takes the next one). Default: 9192. */
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
  load: { orders: number; answered: number; errors: Record<string, number>; stockAdds: number };
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

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id state } }`;
const AWAIT = `query($id: ID!, $t: Int) { awaitOrder(id: $id, timeoutMs: $t) { state } }`;
const ADD = `mutation($p: String!, $q: Int!) { addInventory(product: $p, quantity: $q) { stock } }`;

interface Answer {
  data?: any;
  /** The first error's code, `NETWORK` when no answer came (the gateway down or killed mid-request). */
  code?: string;
  commandId?: string;
}

interface OrderAttempt { id: string; product: string; quantity: number; answer?: Answer }
interface StockAttempt { product: string; quantity: number; answer?: Answer }

export function defaultFaults(): string[] {
  return [...systemProcesses([...SERVICE_NAMES], 'each').map((p) => `kill:${p.name}`), 'broker', 'postgres'];
}

export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const started = Date.now();
  const say = options.log ?? ((line: string) => console.log(`[chaos] ${line}`));
  const signal = options.signal ?? new AbortController().signal;
  const faults = options.faults ?? defaultFaults();
  const processNames = systemProcesses([...SERVICE_NAMES], 'each').map((p) => p.name);
  for (const fault of faults) {
    const known = fault === 'broker' || fault === 'postgres' || (fault.startsWith('kill:') && processNames.includes(fault.slice(5)));
    if (!known) throw new Error(`unknown fault "${fault}": use kill:<${processNames.join('|')}>, broker or postgres`);
  }
  const id = randomUUID().slice(0, 8);
  const prefix = `chaos-${id}.`;
  const databaseUrl = `postgresql://postgres@127.0.0.1:5432/gateway_chaos_${id}`;
  const replayUrl = `postgresql://postgres@127.0.0.1:5432/gateway_chaos_${id}_replay`;
  const kafkaPort = options.kafkaPort ?? 9192;
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
  let supervisor: Supervisor | undefined;
  let bus: Bus | undefined;
  let stopLoad: (() => Promise<void>) | undefined;
  const orders: OrderAttempt[] = [];
  const stockAdds: StockAttempt[] = [];
  const faultResults: FaultResult[] = [];
  let invariants: Invariant[] = [];
  const restarts: Record<string, number> = {};

  const startBroker = async () => {
    // Our own broker even when KAFKA_BROKERS points at a shared one: restarting that would disturb others.
    const saved = process.env.KAFKA_BROKERS;
    delete process.env.KAFKA_BROKERS;
    try {
      const running = await ensureKafka({ port: kafkaPort, log: (line) => note(`[kafka] ${line}`) });
      if (!running.started) {
        throw new Error(`a broker already runs on port ${kafkaPort}; the chaos run restarts its broker, so it needs its own: pass --kafka-port`);
      }
      return running;
    } finally {
      if (saved !== undefined) process.env.KAFKA_BROKERS = saved;
    }
  };

  try {
    sayAndNote(`run ${id}: broker on 127.0.0.1:${kafkaPort}, gateway on ${gatewayPort}, topics ${prefix}*, database gateway_chaos_${id}; logs in ${logFile}`);
    kafka = await startBroker();
    const brokers = kafka.brokers;
    const env = {
      ...process.env,
      KAFKA_BROKERS: brokers.join(','),
      TOPIC_PREFIX: prefix,
      DATABASE_URL: databaseUrl,
      PORT: String(gatewayPort),
      LOG_LEVEL: 'info',
    };
    await withEnv(env, () => setUpSystem((line) => note(`[setup] ${line}`)));
    checkAborted(signal);
    supervisor = superviseProcesses(systemProcesses([...SERVICE_NAMES], 'each'), {
      env,
      log: sayAndNote,
      output: (name, line) => file.write(`${new Date().toISOString()} [${name}] ${line}\n`),
    });
    await waitUntil(() => fetch(url.replace('/graphql', '/healthz')).then((r) => r.ok, () => false), 120_000, signal, 'the gateway to become healthy');
    bus = await createBus({ clientId: 'chaos', brokers, prefix });
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

    /** From `since`, places fresh probe orders until one reaches a terminal state; the time it took, or null. */
    const recovery = async (since: number): Promise<number | null> => {
      while (Date.now() - since < RECOVERY_DEADLINE_MS && !signal.aborted) {
        const attempt = await placeOrder(PROBE_PRODUCT, 1);
        if (attempt.answer?.code !== 'NETWORK') {
          const settled = await gql(AWAIT, { id: attempt.id, t: 10_000 });
          if (settled.data?.awaitOrder?.state === 'VALIDATED' || settled.data?.awaitOrder?.state === 'FAILED') return Date.now() - since;
        }
        await pause(250, signal);
      }
      return null;
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
    const loadStarted = Date.now();
    const progress = setInterval(() => say(`load: ${summary(orders)}`), 10_000);
    stopLoad = async () => {
      loadRunning = false;
      clearInterval(progress);
      await Promise.all(clients);
    };

    const durationMs = options.durationMs ?? 100_000;
    const warmUp = Math.min(5_000, durationMs / 4);
    const baseline = await recovery(Date.now());
    sayAndNote(`baseline: an order reaches a terminal state in ${baseline === null ? 'never' : seconds(baseline)} under load`);
    const interval = (durationMs - warmUp) / (faults.length + 1);
    for (const [index, fault] of faults.entries()) {
      await pause(loadStarted + warmUp + index * interval - Date.now(), signal);
      checkAborted(signal);
      const t0 = Date.now();
      let what: string;
      if (fault.startsWith('kill:')) {
        const name = fault.slice(5);
        what = `SIGKILL ${name} (pid ${supervisor.pid(name) ?? 'none: it was down'})`;
        supervisor.kill(name, 'SIGKILL');
      } else if (fault === 'broker') {
        what = 'broker restart';
        await kafka.stop();
        kafka = await startBroker();
        what += ` (down ${seconds(Date.now() - t0)})`;
      } else {
        what = `dropped ${await terminateConnections(databaseUrl)} PostgreSQL connections`;
      }
      sayAndNote(`fault ${index + 1}/${faults.length}: ${what}`);
      const recoveryMs = await recovery(t0);
      checkAborted(signal);
      faultResults.push({ fault, recoveryMs, note: what });
      sayAndNote(`fault ${index + 1}/${faults.length}: ${recoveryMs === null ? `NOT recovered within ${seconds(RECOVERY_DEADLINE_MS)}` : `recovered in ${seconds(recoveryMs)}`}`);
    }
    await pause(loadStarted + durationMs - Date.now(), signal);
    await stopLoad();
    stopLoad = undefined;
    checkAborted(signal);
    sayAndNote(`load stopped: ${summary(orders)}; waiting for the system to be quiet`);

    const prisma = createPrisma(databaseUrl, { poolSize: 2 });
    try {
      const quiet = await waitForQuiet(bus, prisma, signal);
      sayAndNote(quiet ? 'quiet: no order in progress, projections at the end of the log' : `NOT quiet after ${seconds(QUIET_DEADLINE_MS)}: checking anyway`);
      invariants = await checkInvariants({ bus, prisma, orders, stockAdds, replayUrl, id, note, signal });
      invariants.push(restartsAsKilled(processNames, (name) => supervisor!.restarts(name), faults));
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
    for (const db of [databaseUrl, replayUrl]) await dropDatabase(db).catch(() => {});
    await new Promise((r) => file.end(r));
    say(`cleaned up: processes stopped, topics, databases and the broker removed (${seconds(Date.now() - started)} in all)`);
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

/** Until no order is CREATED and both projectors stand at the end of their topics; false after the deadline. */
async function waitForQuiet(bus: Bus, prisma: PrismaClient, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + QUIET_DEADLINE_MS;
  while (Date.now() < deadline && !signal.aborted) {
    const inProgress = await prisma.order.count({ where: { state: 'CREATED' } }).catch(() => -1);
    if (inProgress === 0 && (await projectionsAtEnd(bus, prisma))) return true;
    await pause(500, signal);
  }
  return false;
}

async function projectionsAtEnd(bus: Bus, prisma: PrismaClient): Promise<boolean> {
  for (const projection of [ordersProjection, inventoryProjection]) {
    const rows = await prisma.projectionOffset.findMany({ where: { projector: bus.prefix + projection.name } }).catch(() => null);
    if (!rows) return false;
    for (const topic of projection.topics.map(bus.topic)) {
      for (const { partition, high } of await bus.topicOffsets(topic)) {
        const stands = rows.find((r) => r.topic === topic && r.partition === partition)?.nextOffset ?? 0n;
        if (stands < BigInt(high)) return false;
      }
    }
  }
  return true;
}

interface CheckContext {
  bus: Bus;
  prisma: PrismaClient;
  orders: OrderAttempt[];
  stockAdds: StockAttempt[];
  replayUrl: string;
  id: string;
  note: (line: string) => void;
  signal: AbortSignal;
}

async function readEvents(bus: Bus, topic: string): Promise<EventEnvelope[]> {
  const events: EventEnvelope[] = [];
  for (const message of await readTopic(bus, bus.topic(topic))) {
    const envelope = ordersContract.decode(message.value);
    if (envelope.kind === 'event') events.push(envelope);
  }
  return events;
}

async function checkInvariants(context: CheckContext): Promise<Invariant[]> {
  const { bus, prisma, orders, stockAdds } = context;
  const invariants: Invariant[] = [];
  const check = (name: string, problems: string[], okDetail: string, informational = false) => {
    // Every problem goes to the log file; the report shows the first few.
    for (const problem of problems) context.note(`[check] ${name}: ${problem}`);
    invariants.push({
      name,
      ok: !problems.length,
      detail: problems.length ? `${problems.length} problem(s), first: ${problems.slice(0, 3).join('; ')}` : okDetail,
      ...(informational ? { informational } : {}),
    });
  };

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
  const duplicates = [...seen].filter(([, events]) => events.length > 1);
  check('one verdict per order and check (log)', duplicates.map(([slot, events]) =>
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
  check('projections equal a fresh replay: content', replay.content, 'orders, order_validations and inventory_items: same rows, same states, verdicts and stock');
  check('projections equal a fresh replay: timestamps', replay.timestamps, 'updated_at and recorded_at identical too');

  // 5. Nothing set aside.
  const deadLetters = await listDeadLetters(bus);
  check('nothing dead-lettered', deadLetters.map((d) => `${d.id} from ${d.consumer}: ${d.reason}`), `${bus.topic(RUNTIME_TOPICS.deadLetters)} is empty`);
  return invariants;
}

/** When a projector wrote a row, not what it says. */
const TIME_COLUMNS = new Set(['updated_at', 'recorded_at']);

/** Rebuilds the projections into a fresh database by running the projectors to the log's end, then compares tables. */
async function compareWithReplay({ bus, replayUrl, id, note, signal, prisma: live }: CheckContext): Promise<{ content: string[]; timestamps: string[] }> {
  await migrate(replayUrl);
  // Its own consumer groups: the live projectors keep theirs. Offsets and rows go to the replay database.
  const replayBus: Bus = { ...bus, createConsumer: (group, options) => bus.createConsumer(`replay-${id}.${group}`, options) };
  const replay = createPrisma(replayUrl, { poolSize: 2 });
  const logger: Logger = { info: (m) => note(`[replay] ${m}`), warn: (m) => note(`[replay] warn ${m}`), error: (m) => note(`[replay] error ${m}`) };
  const projectors: RunningProjector[] = [];
  try {
    for (const projection of [ordersProjection, inventoryProjection]) projectors.push(await startProjector(projection, replayBus, replay, logger));
    await waitUntil(() => projectionsAtEnd(bus, replay), 60_000, signal, 'the replay to reach the end of the log');
    const problems: string[] = [];
    const timestamps: string[] = [];
    const tables = [
      { table: 'orders', key: 'id' },
      { table: 'order_validations', key: 'order_id, check_type' },
      { table: 'inventory_items', key: 'product' },
    ];
    for (const { table, key } of tables) {
      const [a, b] = await Promise.all([live, replay].map((client) => client.$queryRawUnsafe<Record<string, unknown>[]>(`SELECT * FROM ${table} ORDER BY ${key}`)));
      const keyOf = (row: Record<string, unknown>) => key.split(', ').map((k) => String(row[k])).join('/');
      const replayed = new Map(b.map((row) => [keyOf(row), JSON.stringify(row)]));
      for (const row of a) {
        const other = replayed.get(keyOf(row));
        if (other === undefined) problems.push(`${table} ${keyOf(row)} is live but not in the replay`);
        else if (other !== JSON.stringify(row)) {
          const columns = Object.keys(row).filter((c) => JSON.stringify(row[c]) !== JSON.stringify(JSON.parse(other)[c]));
          const differs = `${table} ${keyOf(row)} differs in ${columns.map((c) => `${c} (live ${JSON.stringify(row[c])}, replay ${JSON.stringify(JSON.parse(other)[c])})`).join(', ')}`;
          (columns.every((c) => TIME_COLUMNS.has(c)) ? timestamps : problems).push(differs);
        }
        replayed.delete(keyOf(row));
      }
      for (const k of replayed.keys()) problems.push(`${table} ${k} is in the replay but not live`);
    }
    return { content: problems, timestamps };
  } finally {
    await Promise.allSettled(projectors.map((p) => p.stop()));
    await replay.$disconnect();
  }
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
    console.error(`${(error as Error).message}\nusage: npm run chaos [-- --duration <s>] [--clients <n>] [--faults ${defaultFaults().join(',')}] [--kafka-port <port>] [--port <port>]`);
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
    console.log(`[chaos] load: ${report.load.orders} orders (${report.load.answered} answered without error, errors ${JSON.stringify(report.load.errors)}), ${report.load.stockAdds} restocks`);
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
