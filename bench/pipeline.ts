/**
 * The write path's Kafka floor (issue 9): what Kafka and kafkajs alone cost an order on this machine. Each order's
 * six messages (command, created, three verdicts, outcome) take the system's four serial hops and are read by
 * consumer groups of the same shape, through the same bus and consumer runtime (./pipeline-services.ts, its own
 * process as the services are). This process plays the gateway: it sends each command and waits for the outcome.
 * Nothing else happens: no HTTP, GraphQL, schemas, decisions or database. So the system's figures beside these
 * say what everything but Kafka costs, and whether a target is within reach of this broker at all.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { KafkaMessage } from 'kafkajs';
import { createBus, deleteTopicsAndGroups, ensureTopics, type Forwarded } from '../services/shared/bus.ts';
import { runConsumer } from '../services/shared/consumer.ts';
import { createLogger } from '../services/shared/log.ts';
import { load } from './measure.ts';
import type { BenchSystem } from './system.ts';
import { cpuBetween, cpuSnapshot, describeCpuPer, requestsPer } from './usage.ts';

export const PIPELINE_TOPICS = { commands: 'commands', events: 'events', verdicts: 'verdicts' } as const;
export const CHECKS = ['inventory', 'fraud', 'details'] as const;
/** About the size of an orders envelope as JSON, so the broker moves as many bytes per message as in the system. */
const PAYLOAD = Buffer.from(JSON.stringify({ padding: 'x'.repeat(380) }));

/** A message of the floor's flow: keyed by its order, its kind in a header. */
export const message = (topic: string, orderId: string, type: string): Forwarded => ({ topic, key: orderId, value: PAYLOAD, headers: { type } });
export const typeOf = (m: KafkaMessage) => String(m.headers?.type ?? '');

export interface PipelineFloor {
  p50: number; p95: number; p99: number; count: number; perSecond: number;
  cpu: ReturnType<typeof describeCpuPer>;
  requests: Record<string, number>;
}

/**
 * The floor at each concurrency (orders in flight at once, each from its own loop), after a warm-up; and the
 * messages the topics gained per completed order over the whole run (six when the flow is whole).
 */
export async function kafkaPipelineFloor(
  system: Pick<BenchSystem, 'kafkaBrokers' | 'topicPrefix' | 'databaseUrl'>,
  concurrencies: readonly number[],
  { warmUpSeconds = 3, phaseSeconds = 5 } = {},
): Promise<{ floors: Record<number, PipelineFloor>; messagesPerOrder: number }> {
  const prefix = `${system.topicPrefix}pipeline-${randomUUID().slice(0, 8)}.`;
  const log = createLogger('bench-pipeline');
  const bus = await createBus({ clientId: 'bench-pipeline-clients', brokers: system.kafkaBrokers.split(','), prefix });
  await ensureTopics(bus.kafka, new Map(Object.values(PIPELINE_TOPICS).map((topic) => [topic, {}])), prefix);
  const services = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'pipeline-services.ts'), system.kafkaBrokers, prefix], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((done) => services.once('exit', done));
  const lines = createInterface({ input: services.stdout! });
  const nextLine = (marker: string) => new Promise<string>((found, failed) => {
    const onLine = (line: string) => {
      if (!line.startsWith(marker)) return;
      lines.off('line', onLine);
      found(line.slice(marker.length).trim());
    };
    lines.on('line', onLine);
    void exited.then(() => failed(new Error('the pipeline floor\'s services process exited; its error is above')));
  });
  try {
    await nextLine('READY');
    const waiting = new Map<string, () => void>();
    const outcomes = await runConsumer(bus, {
      group: 'clients', topics: [PIPELINE_TOPICS.events], fromBeginning: false,
      run: () => ({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) if (typeOf(m) === 'validated') waiting.get(String(m.key))?.();
        },
      }),
    }, log);
    let completed = 0;
    const one = async () => {
      const orderId = randomUUID();
      const validated = new Promise<void>((done) => waiting.set(orderId, done));
      await bus.publish([message(PIPELINE_TOPICS.commands, orderId, 'command')]);
      await validated;
      waiting.delete(orderId);
      completed += 1;
    };
    /** Both sides' Kafka requests so far. */
    const requests = async () => {
      services.stdin!.write('requests\n');
      const theirs = JSON.parse(await nextLine('REQUESTS')) as Record<string, number>;
      const ours = bus.requestCounts();
      return Object.fromEntries([...new Set([...Object.keys(theirs), ...Object.keys(ours)])].map((api) => [api, (theirs[api] ?? 0) + (ours[api] ?? 0)]));
    };
    const usage = async () => ({ cpu: await cpuSnapshot(services.pid, system.databaseUrl), clients: process.cpuUsage(), requests: await requests() });

    await load(16, one, { seconds: warmUpSeconds });
    const floors: Record<number, PipelineFloor> = {};
    for (const clients of concurrencies) {
      const before = await usage();
      const result = await load(clients, one, { seconds: phaseSeconds });
      const after = await usage();
      const spent = cpuBetween(before.cpu, after.cpu);
      const clientsCpu = process.cpuUsage(before.clients);
      const parts = new Map([
        ['broker', spent.get('broker') ?? 0],
        ['services side', spent.get('other') ?? 0], // the child's label (bench/usage.ts names only the system's processes)
        ['clients side', (clientsCpu.user + clientsCpu.system) / 1e6],
      ]);
      floors[clients] = { ...result, cpu: describeCpuPer(parts, result.count), requests: requestsPer(before.requests, after.requests, result.count) };
    }
    await outcomes.stop();
    let messages = 0;
    for (const topic of Object.values(PIPELINE_TOPICS)) {
      for (const { high, low } of await bus.topicOffsets(bus.topic(topic))) messages += Number(high) - Number(low);
    }
    return { floors, messagesPerOrder: messages / completed };
  } finally {
    services.stdin!.end();
    await Promise.race([exited, new Promise((timeUp) => setTimeout(timeUp, 30_000))]);
    services.kill();
    await deleteTopicsAndGroups(bus.kafka, prefix).catch(() => {});
    await bus.close();
  }
}
