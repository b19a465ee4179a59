/**
 * Configuration read from the environment, in one place. Every option documents its default.
 */

/** PostgreSQL connection string. Default: the local server's `gateway` database. */
export function databaseUrl(): string {
  return process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/gateway';
}

/** Kafka bootstrap servers, comma separated. Default: the local broker started by `npm start`. */
export function kafkaBrokers(): string[] {
  return (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim());
}

/** Prefix for every topic and consumer group name, so several systems (or test runs) share one cluster. Default: none. */
export function topicPrefix(): string {
  return process.env.TOPIC_PREFIX ?? '';
}

/** Partitions per topic at creation. Default: 6. */
export function topicPartitions(): number {
  return Number(process.env.TOPIC_PARTITIONS ?? 6);
}

/** HTTP and WebSocket port of the gateway. Default: 4000. */
export function gatewayPort(): number {
  return Number(process.env.PORT ?? 4000);
}

/** How long a mutation waits for its command's outcome, in milliseconds. Default: 10000. */
export function commandTimeoutMs(): number {
  return Number(process.env.COMMAND_TIMEOUT_MS ?? 10_000);
}

/**
 * The largest message the system writes to Kafka, in bytes of JSON. Default: 1000000, under the broker's
 * default `message.max.bytes` (1048588) with room for the key, headers and batch overhead.
 */
export function maxMessageBytes(): number {
  return Number(process.env.KAFKA_MAX_MESSAGE_BYTES ?? 1_000_000);
}
