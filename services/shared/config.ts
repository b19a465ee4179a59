/**
 * The runtime's settings, read from the environment: where Kafka and PostgreSQL are and how topics are made. The
 * gateway's are in gateway/config.ts, a domain's in its folder. Every option documents its default.
 */

/** A whole number from the environment variable `name`, or `fallback` when it is unset or empty; anything else is refused, naming it. */
export function envInteger<T extends number | undefined>(name: string, fallback: T, min = 1): number | T {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be a whole number of at least ${min}, not "${raw}"`);
  return value;
}

/** PostgreSQL connection string. Default: the local server's `gateway` database. */
export const databaseUrl = (): string => process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/gateway';

/** Kafka bootstrap servers, comma separated. Default: the local broker started by `npm start`. */
export function kafkaBrokers(): string[] {
  return (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',').map((b) => b.trim()); // empty counts as unset
}

/** Prefix for every topic and consumer group name, so several systems (or test runs) share one cluster. Default: none. */
export const topicPrefix = (): string => process.env.TOPIC_PREFIX ?? '';

/** Partitions per topic at creation. Default: 6. */
export const topicPartitions = (): number => envInteger('TOPIC_PARTITIONS', 6);

/** Replicas of each topic the system creates. Default: the cluster's broker count up to 3. */
export const topicReplicationFactor = (): number | undefined => envInteger('KAFKA_REPLICATION_FACTOR', undefined);

/** `min.insync.replicas` of each replicated topic the system creates. Default: 2 from 3 replicas on, else 1. */
export const topicMinInsyncReplicas = (): number | undefined => envInteger('KAFKA_MIN_INSYNC_REPLICAS', undefined);

/** The largest message written to Kafka, in bytes of JSON. Default: 1000000, leaving room under `message.max.bytes`. */
export const maxMessageBytes = (): number => envInteger('KAFKA_MAX_MESSAGE_BYTES', 1_000_000);

/** When set, every process writes its Kafka request counts there each second (for `npm run bench`). */
export const requestStatsDir = (): string | undefined => process.env.KAFKA_REQUEST_STATS_DIR || undefined;

export const DEFAULT_SCHEMA_REGISTRY_URL = 'http://127.0.0.1:8081/apis/ccompat/v7';

/** The schema registry's Confluent-compatible API. Default: the one `npm start` and the tests start on 8081. */
export function schemaRegistryUrl(): string {
  return (process.env.SCHEMA_REGISTRY_URL || DEFAULT_SCHEMA_REGISTRY_URL).replace(/\/$/, '');
}
