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

/**
 * Replicas of each topic the system creates (existing topics keep theirs). Default: unset, and then the cluster's
 * broker count up to 3 (1 on a single broker, 3 on a cluster of three or more).
 */
export function topicReplicationFactor(): number | undefined {
  return process.env.KAFKA_REPLICATION_FACTOR ? Number(process.env.KAFKA_REPLICATION_FACTOR) : undefined;
}

/**
 * `min.insync.replicas` of each replicated topic the system creates: how many replicas must have a message before
 * it counts as written (producers send with acks=all). Default: unset, and then 2 when replicated 3 times or
 * more, 1 otherwise (the broker's default then applies to a topic of one replica).
 */
export function topicMinInsyncReplicas(): number | undefined {
  return process.env.KAFKA_MIN_INSYNC_REPLICAS ? Number(process.env.KAFKA_MIN_INSYNC_REPLICAS) : undefined;
}

/**
 * The interface the gateway listens on. Default: 127.0.0.1, this machine only; `0.0.0.0` (or an address) exposes
 * it, and then it hands out no development tokens (README, Exposing the gateway).
 */
export function gatewayHost(): string {
  return process.env.HOST || '127.0.0.1';
}

/** Time a client has to send a request's headers, in ms; then it is answered 408 and closed. Default: 10000. */
export function headersTimeoutMs(): number {
  return Number(process.env.HEADERS_TIMEOUT_MS ?? 10_000);
}

/** Time a client has to send a whole request, body included, in ms; then it is answered 408 and closed. Default: 30000. */
export function requestTimeoutMs(): number {
  return Number(process.env.REQUEST_TIMEOUT_MS ?? 30_000);
}

/** Connections the gateway holds open at once (HTTP and WebSocket); past this, new ones are closed. Default: 20000. */
export function maxConnections(): number {
  return Number(process.env.MAX_CONNECTIONS ?? 20_000);
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

/** Deepest nesting of fields a GraphQL operation may select. Default: 10. */
export function maxQueryDepth(): number {
  return Number(process.env.MAX_QUERY_DEPTH ?? 10);
}

/** Aliased fields (an alias other than the field's own name) a GraphQL document may hold. Default: 30. */
export function maxAliases(): number {
  return Number(process.env.MAX_ALIASES ?? 30);
}

/**
 * Highest estimated cost of a GraphQL operation: 1 per field, a field's subtree multiplied by its page size.
 * Default: 10000 (the largest page the schema allows, `orders(first: 100)` with every field, costs 7501).
 */
export function maxQueryCost(): number {
  return Number(process.env.MAX_QUERY_COST ?? 10_000);
}

/** Lexical tokens a GraphQL document may have; the parser stops past them. Default: 2000. */
export function maxQueryTokens(): number {
  return Number(process.env.MAX_QUERY_TOKENS ?? 2000);
}

/** Largest HTTP request body and WebSocket message, in bytes. Default: 1000000. */
export function maxBodyBytes(): number {
  return Number(process.env.MAX_BODY_BYTES ?? 1_000_000);
}

/**
 * Browser origins allowed to open a WebSocket, comma separated (e.g. `https://shop.example.com`), besides the
 * gateway's own origin; `*` allows any. Default: unset, which allows http(s)://localhost and 127.0.0.1 on any port.
 */
export function allowedOrigins(): string[] | undefined {
  return process.env.ALLOWED_ORIGINS?.split(',').map((o) => o.trim()).filter(Boolean);
}

/** Subscriptions one WebSocket may run at once. Default: 100. */
export function maxSubscriptionsPerSocket(): number {
  return Number(process.env.MAX_SUBSCRIPTIONS_PER_SOCKET ?? 100);
}

/**
 * Bytes a WebSocket may have waiting to be sent (a client that does not read them) before the gateway closes it
 * with 1013 "slow consumer". Default: 4194304 (4 MiB).
 */
export function maxSocketBufferBytes(): number {
  return Number(process.env.MAX_SOCKET_BUFFER_BYTES ?? 4 * 1024 * 1024);
}

/** How often the gateway samples consumer groups for /readyz and /metrics, in milliseconds. Default: 2000. */
export function healthSampleMs(): number {
  return Number(process.env.HEALTH_SAMPLE_MS ?? 2_000);
}

/** A consumer with waiting messages whose offset has not moved for this long is stalled, in milliseconds. Default: 30000. */
export function stallAfterMs(): number {
  return Number(process.env.STALL_AFTER_MS ?? 30_000);
}

/** Messages a consumer group may have waiting, over all its partitions, before it counts as far behind. Default: 10000. */
export function maxLag(): number {
  return Number(process.env.MAX_LAG ?? 10_000);
}

/**
 * How long a requested ride waits for a driver before it is cancelled (reason `timeout`), in milliseconds.
 * Read by the gateway when a ride is requested (the ride carries its expiry). Default: 120000.
 */
export function rideRequestTimeoutMs(): number {
  return Number(process.env.RIDE_REQUEST_TIMEOUT_MS ?? 120_000);
}

/** When set, every process writes its Kafka request counts there each second (for `npm run bench`). */
export function requestStatsDir(): string | undefined {
  return process.env.KAFKA_REQUEST_STATS_DIR || undefined;
}

/**
 * How `npm start` runs the services: `one` process hosting every service (each with its own consumer groups:
 * fewer processes, shared produce requests), or `each` service as its own process, as docker-compose does.
 * Default: one.
 */
export function serviceProcesses(): 'one' | 'each' {
  const layout = process.env.SERVICE_PROCESSES ?? 'one';
  if (layout !== 'one' && layout !== 'each') throw new Error(`SERVICE_PROCESSES must be "one" or "each", not "${layout}"`);
  return layout;
}

/**
 * The HS256 secret that signs and verifies bearer tokens (at least 32 characters recommended). Default: unset,
 * and then, unless JWT_JWKS_URL is set, a secret generated once into `.data/jwt-secret` (gateway/auth.ts), which
 * `npm start`, the tests and `npm run token` share on this machine.
 */
export function jwtSecret(): string | undefined {
  return process.env.JWT_SECRET || undefined;
}

/** A JSON Web Key Set URL (an identity provider's `jwks_uri`) that verifies tokens instead of JWT_SECRET. Default: unset. */
export function jwtJwksUrl(): string | undefined {
  return process.env.JWT_JWKS_URL || undefined;
}

/** The `iss` every token must carry. Default: unset (not checked). */
export function jwtIssuer(): string | undefined {
  return process.env.JWT_ISSUER || undefined;
}

/** The `aud` every token must carry (one of them). Default: unset (not checked). */
export function jwtAudience(): string | undefined {
  return process.env.JWT_AUDIENCE || undefined;
}

/**
 * The bearer token the tools (simulators, chaos, bench) send to GATEWAY_URL. Default: unset, and then they sign
 * an admin token with this machine's JWT_SECRET or generated secret (gateway/auth.ts, `toolToken`).
 */
export function gatewayToken(): string | undefined {
  return process.env.GATEWAY_TOKEN || undefined;
}
