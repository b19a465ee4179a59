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
