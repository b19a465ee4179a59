/**
 * Runs services in a process: each one's command handler and/or its projectors, all sharing one Kafka client,
 * and the process's heartbeat (liveness.ts). SIGINT/SIGTERM stop consumers cleanly so their groups leave at once.
 */
import { createBus, type Bus } from './bus.ts';
import { databaseUrl, topicPrefix } from './config.ts';
import { createPrisma } from './db.ts';
import { startHeartbeats, type ConsumerHealth } from './liveness.ts';
import { eventIndexProjection } from './event-index.ts';
import { createLogger } from './log.ts';
import { startProjector, type ProjectionDefinition } from './projector.ts';
import { eventIndexProjector, type AnyContract, type Outgoing } from './messages.ts';
import { createSchemaRegistry, incompatibleSchemas, topicSchemas } from './schemas.ts';
import { readerGroup, startServices, type ServiceDefinition } from './service.ts';

/** Messages a process publishes on a timer (e.g. a domain's clock), so deciders learn the time from the log. */
export interface Ticker {
  everyMs: number;
  /** What it publishes at `now`: one message, or several (e.g. one per region), in one publish. */
  tick(now: Date): Outgoing | Outgoing[];
}

/** One process: a service's command handler and the projections it hosts. */
export interface ServiceParts {
  name: string;
  // Each service has its own state type and contract; the runtime never looks inside them.
  service?: ServiceDefinition<any, any>;
  projections?: ProjectionDefinition<any>[];
  tickers?: Ticker[];
}

/** What services/<domain>/index.ts exports: the code of every service and projection its contract declares. */
export interface DomainRuntime {
  contract: AnyContract;
  services: ServiceDefinition<any, any>[];
  projections?: ProjectionDefinition<any>[];
  /** Tickers, by the service whose process publishes them. */
  tickers?: Record<string, Ticker[]>;
  /** Seeds an empty system (as commands, like any client's); answers a line to print, or undefined when not empty. */
  seed?(bus: Bus): Promise<string | undefined>;
}

/** A domain's processes, one per declared service. Throws when code and contract disagree: at start, not at the first message. */
export function processesOf(runtime: DomainRuntime): ServiceParts[] {
  const { contract } = runtime;
  const where = `the ${contract.domain} domain's index.ts`;
  const byName = <T extends { name: string; contract: AnyContract }>(kind: string, code: T[], declared: readonly { name: string }[]) => {
    const found = new Map<string, T>();
    for (const definition of code) {
      if (!declared.some(({ name }) => name === definition.name)) throw new Error(`${where} runs ${kind} "${definition.name}", which the ${contract.domain} contract does not declare; add it to the contract's ${kind === 'service' ? 'services' : 'projections'}`);
      if (definition.contract !== contract) throw new Error(`${where}: ${kind} "${definition.name}" is defined on another domain's contract`);
      if (found.has(definition.name)) throw new Error(`${where} runs ${kind} "${definition.name}" twice`);
      found.set(definition.name, definition);
    }
    const missing = declared.filter(({ name }) => !found.has(name)).map(({ name }) => name);
    if (missing.length) throw new Error(`the ${contract.domain} contract declares ${kind} ${missing.join(', ')} but ${where} runs no code for it`);
    return found;
  };
  const services = byName('service', runtime.services, contract.services);
  // The event index's projector is the runtime's own, declared by every contract.
  const indexed = contract.projections.some(({ name }) => name === eventIndexProjector(contract.domain));
  const projections = [...(runtime.projections ?? []), ...(indexed ? [eventIndexProjection(contract)] : [])];
  byName('projection', projections, contract.projections);
  for (const host of [...contract.projections.map((p) => p.process), ...Object.keys(runtime.tickers ?? {})]) {
    if (!services.has(host)) throw new Error(`${where}: no service "${host}" to host a projection or ticker; services: ${[...services.keys()].join(', ')}`);
  }
  return contract.services.map(({ name }) => ({
    name,
    service: services.get(name),
    projections: projections.filter((projection) => contract.projection(projection.name).process === name),
    tickers: runtime.tickers?.[name] ?? [],
  }));
}

export interface RunningParts {
  stop(): Promise<void>;
}

/** The process's name in its log lines and heartbeats: the service it runs alone, or `services`. */
function processName(hosted: ServiceParts[]): string {
  return hosted.length === 1 ? hosted[0].name : 'services';
}

/** The readers of a process's command handlers: one for all, except a service with one aggregate has its own. */
function readersOf(handlers: ServiceDefinition<any, any>[]): ServiceDefinition<any, any>[][] {
  const partitioned = handlers.filter((handler) => handler.instances !== 'single');
  return [...(partitioned.length ? [partitioned] : []), ...handlers.filter((handler) => handler.instances === 'single').map((handler) => [handler])];
}

/** Starts services in this process, on one Kafka client and one database pool (also used by tests). */
export async function startParts(hosted: ServiceParts[], only: 'all' | 'handler' | 'projector' = 'all'): Promise<RunningParts> {
  await refuseIncompatibleContracts(hosted);
  const bus = await createBus({ clientId: hosted.map((parts) => parts.name).join('+') });
  const handlers = only === 'projector' ? [] : hosted.flatMap((parts) => (parts.service ? [parts.service] : []));
  const projections = only === 'handler' ? [] : hosted.flatMap((parts) => parts.projections ?? []);
  // Only projectors write through this client: their lost tail after a database crash is projected again.
  const prisma = projections.length ? createPrisma(undefined, { asyncCommit: true }) : undefined;
  // From the start, every consumer this process will run is in its heartbeat: the gateway sees it starting.
  const readers = readersOf(handlers).map((services) => ({ services, serves: services.map(({ name }) => name) }));
  const health = new Map<string, () => ConsumerHealth>(
    [...readers.map(({ serves }) => serves), ...projections.map(({ name }) => [name])].map((serves) => {
      const group = bus.prefix + readerGroup(serves);
      return [group, () => ({ group, serves, problem: 'is starting', topics: [], assigned: {} })];
    }),
  );
  const heartbeats = startHeartbeats({
    databaseUrl: databaseUrl(),
    process: processName(hosted),
    consumers: () => [...health.values()].map((of) => of()),
    log: createLogger(processName(hosted)),
  });
  const stops: (() => Promise<void>)[] = [heartbeats.stop];
  try {
    for (const { services, serves } of readers) {
      const running = await startServices(services, bus);
      health.set(bus.prefix + running.group, () => ({ ...running.health(), serves }));
      stops.push(running.stop);
    }
    for (const projection of projections) {
      const running = await startProjector(projection, bus, prisma!, createLogger(projection.name));
      health.set(bus.prefix + projection.name, () => ({ ...running.health(), serves: [projection.name] }));
      stops.push(running.stop);
    }
    // Last, so a start that failed leaves no timer behind.
    for (const parts of only === 'projector' ? [] : hosted) {
      for (const ticker of parts.tickers ?? []) {
        const log = createLogger(parts.name);
        const timer = setInterval(() => {
          bus.publish([ticker.tick(new Date())].flat()).catch((error: Error) => log.warn(`could not publish a tick: ${error.message}`));
        }, ticker.everyMs);
        stops.unshift(async () => clearInterval(timer)); // stopped first, before the bus closes
      }
    }
  } catch (error) {
    await Promise.allSettled(stops.map((stop) => stop()));
    await bus.close();
    await prisma?.$disconnect();
    throw error;
  }
  return {
    async stop() {
      await Promise.allSettled(stops.map((stop) => stop()));
      await bus.close();
      await prisma?.$disconnect();
    },
  };
}

/** A contract the schema registry would refuse is not run: what it writes could not be read by what reads its topics. */
async function refuseIncompatibleContracts(hosted: ServiceParts[]): Promise<void> {
  const contracts = new Set<AnyContract>(hosted.flatMap((parts) => [
    ...(parts.service ? [parts.service.contract] : []),
    ...(parts.projections ?? []).map((projection) => projection.contract),
  ]));
  const problems = await incompatibleSchemas(createSchemaRegistry(), topicSchemas([...contracts], topicPrefix()));
  if (problems.length) throw new Error(`its contract is incompatible with the registered schemas:\n  ${problems.join('\n  ')}`);
}

/** Runs services as one process until SIGINT/SIGTERM; `--only=handler|projector` runs one part of each. */
export async function runServiceProcess(hosted: ServiceParts[]): Promise<void> {
  const only = (process.argv.find((a) => a.startsWith('--only='))?.slice(7) ?? 'all') as 'all' | 'handler' | 'projector';
  const log = createLogger(processName(hosted));
  const running = await startParts(hosted, only).catch((error: Error) => {
    log.error(`could not start: ${error.message}`);
    process.exit(1);
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    await running.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}
