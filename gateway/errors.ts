/**
 * The one place errors become GraphQL errors: known codes pass through in `extensions.code`, anything
 * else is masked as INTERNAL_SERVER_ERROR (and logged), stack traces only in development.
 */
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import { SystemError } from '../services/shared/errors.ts';
import type { Logger } from '../services/shared/log.ts';

export function createErrorFormatter(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = cause(error);
    if (original instanceof SystemError) {
      return {
        message: original.message,
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: original.code, retriable: original.retriable, ...original.details },
      };
    }
    const code = formatted.extensions?.code;
    // Errors GraphQL itself raised (parse, validation, variable coercion) are the client's to fix.
    if (code && code !== 'INTERNAL_SERVER_ERROR') return formatted;
    // GraphQL's own errors (parse, validation) have no cause of ours. By name, not instanceof: graphql-ws
    // may load graphql-js's other (CommonJS) build.
    if ((original as GraphQLError)?.name === 'GraphQLError') {
      return { ...formatted, extensions: { ...formatted.extensions, code: 'GRAPHQL_VALIDATION_FAILED' } };
    }
    if (isConnectionLoss(original)) {
      log.warn(`a request met a lost database connection: ${(original as Error).message}`);
      return {
        message: 'the database connection was lost (PostgreSQL restarting or unreachable); retry',
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: 'UNAVAILABLE', retriable: true },
      };
    }
    log.error(`unexpected error: ${(original as Error)?.stack ?? String(original)}`);
    return {
      message: 'internal error: the gateway logged the details',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

/** The error a resolver threw, under the GraphQLError wrappers around it. */
function cause(error: unknown): unknown {
  let current = error;
  while ((current as GraphQLError)?.originalError) current = (current as GraphQLError).originalError;
  return current;
}

/**
 * PostgreSQL ending or refusing the connection (SQLSTATE classes 08 and 57P, Prisma's P1001 and P1017, the socket's
 * own errors): an outage the client may retry, not a bug to mask.
 */
function isConnectionLoss(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    return code.startsWith('08') || code.startsWith('57P') || ['P1001', 'P1017', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code);
  }
  return typeof message === 'string' && message.startsWith('Connection terminated');
}
