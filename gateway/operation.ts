/**
 * Which operation of a document a request runs. GraphQL leaves it to `operationName` when a document holds
 * several; a request that names none of them, or one the document lacks, is the client's mistake, refused with
 * BAD_REQUEST and the names it could have sent (HTTP and graphql-ws alike), before anything runs.
 */
// The CommonJS build, as Apollo and graphql-ws load it (see limits.ts).
import { GraphQLError, Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql/index.js';

/** The operation to run, or why there is none, as a sentence that says what to send. */
export function selectOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | string {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const names = operations.map((o) => o.name?.value).filter((name): name is string => !!name);
  const choose = names.length ? `send one of ${names.map((n) => JSON.stringify(n)).join(', ')} as operationName` : 'name the operations and send one name as operationName';
  if (operationName !== null && operationName !== undefined) {
    const named = operations.find((o) => o.name?.value === operationName);
    return named ?? `this document has no operation named ${JSON.stringify(operationName.slice(0, 100))}: ${choose}`;
  }
  if (operations.length === 1) return operations[0];
  if (!operations.length) return 'this document has no operation to run: send a query, mutation or subscription';
  return `this document has ${operations.length} operations and no operationName says which to run: ${choose}`;
}

/** Subscriptions need a connection that stays open: graphql-ws, on the same path. */
export const SUBSCRIPTION_OVER_HTTP =
  'subscriptions are served over WebSocket with the graphql-ws protocol (subprotocol graphql-transport-ws) on this same /graphql path, ' +
  'not over HTTP POST or GET: connect with a graphql-ws client (https://the-guild.dev/graphql/ws)';

export function badRequest(message: string, status?: number): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_REQUEST', ...(status && { http: { status } }) } });
}
