/**
 * The compiled executor, behind Apollo's gateway interface (its one seam for a custom executor). Queries run through
 * graphql-jit, compiled once per document into an LRU; mutations, documents jit cannot compile and variables that do
 * not coerce run through graphql-js. test/executor.e2e.test.ts compares both ways.
 */
import type { ApolloServerOptionsWithGateway, ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
// The CommonJS build, which Apollo, graphql-tools and graphql-jit load (see limits.ts): Apollo keeps an error's
// path and locations only when it is an `instanceof` its GraphQLError.
import {
  execute, getVariableValues, GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode,
} from 'graphql/index.js';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';

/** Compiled queries kept; the least recently used is dropped past this. */
export const MAX_COMPILED_QUERIES = 1000;

export interface Execution {
  document: DocumentNode;
  /** The document's text: with the operation name, the key of its compiled form. */
  source: string;
  operation: OperationDefinitionNode;
  operationName: string | null | undefined;
  variables: Record<string, unknown> | undefined;
  contextValue: unknown;
}

export type Executor = (execution: Execution) => Promise<ExecutionResult>;

/** `jit: false` runs everything through graphql-js (the comparison in the tests, the bench's "before"). */
export function createExecutor(schema: GraphQLSchema, options: { jit?: boolean; maxCompiled?: number } = {}): Executor {
  // 'graphql-js': graphql-jit could not compile it, so graphql-js runs it (remembered, not retried per request).
  const compiled = new LRUCache<string, CompiledQuery | 'graphql-js'>({ max: options.maxCompiled ?? MAX_COMPILED_QUERIES });

  function compiledFor(document: DocumentNode, source: string, operationName: string | null | undefined): CompiledQuery | undefined {
    const key = `${operationName ?? ''}\n${source}`;
    let query = compiled.get(key);
    if (query === undefined) {
      const result = compileQuery(schema, document, operationName ?? undefined);
      query = isCompiledQuery(result) ? result : 'graphql-js';
      compiled.set(key, query);
    }
    return query === 'graphql-js' ? undefined : query;
  }

  return async ({ document, source, operation, operationName, variables, contextValue }) => {
    const byGraphqlJs = () => execute({ schema, document, operationName, variableValues: variables, contextValue }) as Promise<ExecutionResult> | ExecutionResult;
    if (options.jit === false || operation.operation !== 'query') return byGraphqlJs();
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}, { maxErrors: 50 });
    if (coerced.errors) return byGraphqlJs();
    const query = compiledFor(document, source, operationName);
    if (!query) return byGraphqlJs();
    const result = await query.query(undefined, contextValue, variables ?? {});
    return result.errors ? { ...result, errors: result.errors.map(asGraphqlJsError) } : result;
  };
}

/**
 * graphql-jit's errors as graphql-js builds them: Apollo reads `extensions.code` of every error (graphql-jit
 * leaves `extensions` undefined when the cause has none) and formatError looks under `originalError`.
 */
function asGraphqlJsError(error: GraphQLError): GraphQLError {
  const converted = new GraphQLError(error.message, {
    path: error.path,
    originalError: error.originalError ?? undefined,
    extensions: error.extensions ?? undefined,
  });
  (converted as { locations: GraphQLError['locations'] }).locations = error.locations;
  return converted;
}

/** Apollo Server's options that execute through `createExecutor` (in place of `schema`). */
export function compiledExecution(schema: GraphQLSchema, options: { jit?: boolean } = {}): Pick<ApolloServerOptionsWithGateway<never>, 'gateway'> {
  const executor = createExecutor(schema, options);
  return {
    gateway: {
      onSchemaLoadOrUpdate(callback) {
        callback({ apiSchema: schema, coreSupergraphSdl: '' });
        return () => {};
      },
      async load() {
        return {
          executor: (request) => executor({
            document: request.document,
            source: request.source,
            operation: request.operation,
            operationName: request.operationName,
            variables: request.request.variables,
            contextValue: request.context,
          }) as never,
        };
      },
      async stop() {},
    },
  };
}

/**
 * Apollo's cache control plugin, off: it wrapped every resolver for hints this schema never declares (a third of a
 * page's time). Answers keep the header it set, `cache-control: no-store`.
 */
export function withoutFieldHooks(): ApolloServerPlugin[] {
  return [
    ApolloServerPluginCacheControlDisabled(),
    {
      async requestDidStart() {
        return {
          async willSendResponse({ response }) {
            response.http.headers.set('cache-control', 'no-store');
          },
        };
      },
    },
  ];
}
