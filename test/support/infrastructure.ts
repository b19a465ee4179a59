/**
 * Kafka and PostgreSQL for tests, in order of preference:
 *  1. KAFKA_BROKERS / DATABASE_URL when set (any existing cluster and server);
 *  2. testcontainers, when a Docker engine answers;
 *  3. the project's own scripts: the Maven-resolved broker and the local PostgreSQL server.
 * This repository's CI has no Docker engine and exercises path 3.
 */
import { spawnSync } from 'node:child_process';
import { ensureKafka } from '../../infra/kafka/broker.ts';

export interface Infrastructure {
  kafkaBrokers: string;
  databaseUrl: string;
  /** Which path provided it, for the test log. */
  source: string;
  stop(): Promise<void>;
}

const LOCAL_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
/** The same broker line as the Maven path and docker-compose (Confluent's image: its KRaft mode is what the module drives). */
const KAFKA_IMAGE = 'confluentinc/cp-kafka:7.9.0';
const POSTGRES_IMAGE = 'postgres:16-alpine';

function dockerAvailable(): boolean {
  if (process.env.TESTCONTAINERS_DISABLED === 'true') return false;
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status === 0;
}

export type Source = 'environment' | 'testcontainers' | 'local';

/** Which path provides each service: given settings win, then Docker, then the project's own scripts. */
export function chooseSources(env: { KAFKA_BROKERS?: string; DATABASE_URL?: string }, docker: boolean): { kafka: Source; postgres: Source } {
  const pick = (given: string | undefined): Source => (given ? 'environment' : docker ? 'testcontainers' : 'local');
  return { kafka: pick(env.KAFKA_BROKERS), postgres: pick(env.DATABASE_URL) };
}

export async function startInfrastructure(): Promise<Infrastructure> {
  const stops: (() => Promise<unknown>)[] = [];
  const sources: string[] = [];
  let kafkaBrokers = process.env.KAFKA_BROKERS;
  let databaseUrl = process.env.DATABASE_URL;
  const docker = (!kafkaBrokers || !databaseUrl) && dockerAvailable();
  const chosen = chooseSources(process.env, docker);

  if (chosen.kafka === 'testcontainers') {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const kafka = await new KafkaContainer(KAFKA_IMAGE).withKraft().start();
    kafkaBrokers = `${kafka.getHost()}:${kafka.getMappedPort(9093)}`;
    stops.push(() => kafka.stop());
    sources.push('Kafka from testcontainers');
  } else if (chosen.kafka === 'local') {
    const kafka = await ensureKafka({ log: (line) => console.log(`[kafka] ${line}`) });
    kafkaBrokers = kafka.brokers.join(',');
    stops.push(() => kafka.stop());
    sources.push(kafka.started ? 'Kafka started from Maven jars' : 'the Kafka broker already running');
  } else {
    sources.push('Kafka from KAFKA_BROKERS');
  }

  if (chosen.postgres === 'testcontainers') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const postgres = await new PostgreSqlContainer(POSTGRES_IMAGE).start();
    databaseUrl = postgres.getConnectionUri();
    stops.push(() => postgres.stop());
    sources.push('PostgreSQL from testcontainers');
  } else if (chosen.postgres === 'local') {
    databaseUrl = LOCAL_DATABASE_URL;
    sources.push('the local PostgreSQL server');
  } else {
    sources.push('PostgreSQL from DATABASE_URL');
  }

  return {
    kafkaBrokers: kafkaBrokers!,
    databaseUrl: databaseUrl!,
    source: sources.join(', '),
    async stop() {
      for (const stop of stops.reverse()) await stop();
    },
  };
}
