/** The gateway's settings, read from the environment (the runtime's are in services/shared/config.ts). Every option documents its default. */
import { envInteger } from '../services/shared/config.ts';

/** The interface to listen on. Default: 127.0.0.1; any other hands out no development tokens (README, Exposing the gateway). */
export const gatewayHost = (): string => process.env.HOST || '127.0.0.1';

/** Time a client has to send a request's headers, in ms; then it is answered 408 and closed. Default: 10000. */
export const headersTimeoutMs = (): number => envInteger('HEADERS_TIMEOUT_MS', 10_000);

/** Time a client has to send a whole request, body included, in ms; then it is answered 408 and closed. Default: 30000. */
export const requestTimeoutMs = (): number => envInteger('REQUEST_TIMEOUT_MS', 30_000);

/** Connections the gateway holds open at once (HTTP and WebSocket); past this, new ones are closed. Default: 20000. */
export const maxConnections = (): number => envInteger('MAX_CONNECTIONS', 20_000);

/** HTTP and WebSocket port of the gateway. Default: 4000. */
export const gatewayPort = (): number => envInteger('PORT', 4000, 0);

/** How long a mutation waits for its command's outcome, in milliseconds. Default: 10000. */
export const commandTimeoutMs = (): number => envInteger('COMMAND_TIMEOUT_MS', 10_000);

/** Deepest nesting of fields a GraphQL operation may select. Default: 10. */
export const maxQueryDepth = (): number => envInteger('MAX_QUERY_DEPTH', 10);

/** Aliased fields (an alias other than the field's own name) a GraphQL document may hold. Default: 30. */
export const maxAliases = (): number => envInteger('MAX_ALIASES', 30);

/** Highest estimated cost of a GraphQL operation. Default: 10000 (`orders(first: 100)` with every field costs 7501). */
export const maxQueryCost = (): number => envInteger('MAX_QUERY_COST', 10_000);

/** Lexical tokens a GraphQL document may have; the parser stops past them. Default: 2000. */
export const maxQueryTokens = (): number => envInteger('MAX_QUERY_TOKENS', 2000);

/** Largest HTTP request body and WebSocket message, in bytes. Default: 1000000. */
export const maxBodyBytes = (): number => envInteger('MAX_BODY_BYTES', 1_000_000);

/** Browser origins allowed to open a WebSocket besides the gateway's own, comma separated; `*` any. Default: localhost. */
export function allowedOrigins(): string[] | undefined {
  return process.env.ALLOWED_ORIGINS?.split(',').map((o) => o.trim()).filter(Boolean);
}

/** Subscriptions one WebSocket may run at once. Default: 100. */
export const maxSubscriptionsPerSocket = (): number => envInteger('MAX_SUBSCRIPTIONS_PER_SOCKET', 100);

/** Unsent bytes past which a WebSocket is closed with 1013 "slow consumer". Default: 4194304 (4 MiB). */
export const maxSocketBufferBytes = (): number => envInteger('MAX_SOCKET_BUFFER_BYTES', 4 * 1024 * 1024);

/** How often the gateway samples consumer groups for /readyz and /metrics, in milliseconds. Default: 2000. */
export const healthSampleMs = (): number => envInteger('HEALTH_SAMPLE_MS', 2_000);

/** A consumer with waiting messages whose offset has not moved for this long is stalled, in milliseconds. Default: 30000. */
export const stallAfterMs = (): number => envInteger('STALL_AFTER_MS', 30_000);

/** Messages a consumer group may have waiting, over all its partitions, before it counts as far behind. Default: 10000. */
export const maxLag = (): number => envInteger('MAX_LAG', 10_000);

/** The HS256 secret of bearer tokens. Default: unless JWT_JWKS_URL is set, one generated into `.data/jwt-secret`. */
export const jwtSecret = (): string | undefined => process.env.JWT_SECRET || undefined;

/** A JSON Web Key Set URL (an identity provider's `jwks_uri`) that verifies tokens instead of JWT_SECRET. Default: unset. */
export const jwtJwksUrl = (): string | undefined => process.env.JWT_JWKS_URL || undefined;

/** The `iss` every token must carry. Default: unset (not checked). */
export const jwtIssuer = (): string | undefined => process.env.JWT_ISSUER || undefined;

/** The `aud` every token must carry (one of them). Default: unset (not checked). */
export const jwtAudience = (): string | undefined => process.env.JWT_AUDIENCE || undefined;

/** The bearer token the tools send to GATEWAY_URL. Default: an admin token they sign (gateway/auth.ts, `toolToken`). */
export const gatewayToken = (): string | undefined => process.env.GATEWAY_TOKEN || undefined;
