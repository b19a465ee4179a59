/**
 * The system under benchmark: the one already running (BENCH_GATEWAY_URL, or localhost:4000 when healthy),
 * or a fresh one started as separate processes by scripts/start.ts on its own port, topic prefix and database,
 * so the load generator never shares an event loop with what it measures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { dropDatabase } from '../infra/database.ts';
import { ensureKafka } from '../infra/kafka/broker.ts';
import { createKafka, deleteTopicsAndGroups } from '../services/shared/bus.ts';

export interface BenchSystem {
  url: string;
  wsUrl: string;
  kafkaBrokers: string;
  databaseUrl: string;
  topicPrefix: string;
  stop(): Promise<void>;
}

const healthy = (url: string) =>
  fetch(url.replace(/\/graphql$/, '/healthz')).then((r) => r.ok, () => false);

export async function startOrUseSystem(log: (line: string) => void): Promise<BenchSystem> {
  const running = process.env.BENCH_GATEWAY_URL ?? 'http://localhost:4000/graphql';
  const kafka = await ensureKafka({ log: (line) => log(`kafka: ${line}`) });
  const kafkaBrokers = kafka.brokers.join(',');
  if (await healthy(running)) {
    log(`using the running system at ${running} (its TOPIC_PREFIX and DATABASE_URL must match this environment)`);
    return {
      url: running,
      wsUrl: running.replace(/^http/, 'ws'),
      kafkaBrokers,
      databaseUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/gateway',
      topicPrefix: process.env.TOPIC_PREFIX ?? '',
      stop: () => kafka.stop(),
    };
  }
  const id = randomUUID().slice(0, 8);
  const port = Number(process.env.BENCH_PORT ?? 4100);
  const env = {
    ...process.env,
    KAFKA_BROKERS: kafkaBrokers,
    TOPIC_PREFIX: `bench-${id}.`,
    DATABASE_URL: `postgresql://postgres@127.0.0.1:5432/gateway_bench_${id}`,
    PORT: String(port),
    LOG_LEVEL: 'silent',
  };
  log(`starting a fresh system on port ${port} (topic prefix ${env.TOPIC_PREFIX})`);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, '../scripts/start.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true, // its own group, so stopping it reaches every service it started
  });
  const url = `http://localhost:${port}/graphql`;
  const deadline = Date.now() + 120_000;
  while (!(await healthy(url))) {
    if (child.exitCode !== null) throw new Error(`the system exited with code ${child.exitCode} while starting`);
    if (Date.now() > deadline) throw new Error('the system did not become healthy within 120 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    kafkaBrokers,
    databaseUrl: env.DATABASE_URL,
    topicPrefix: env.TOPIC_PREFIX,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
      await dropDatabase(env.DATABASE_URL).catch(() => {});
      await deleteTopicsAndGroups(createKafka('bench-cleanup', [kafkaBrokers]), env.TOPIC_PREFIX).catch(() => {});
      await kafka.stop();
    },
  };
}
