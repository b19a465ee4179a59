/**
 * Subscriptions over graphql-ws on `/graphql`, guarded like HTTP: origins checked at the upgrade, messages bounded,
 * each operation validated on its own (a bad one gets an `error`, the socket stays open). Sockets are bounded
 * (bounded-socket.ts), authenticated (socket-auth.ts), and events delivered by the fan-out (fan-out.ts).
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { GraphQLFormattedError } from 'graphql';
// The CommonJS build, as graphql-ws loads it: it tells errors from execution arguments by `instanceof GraphQLError`.
import {
  createSourceEventStream, execute, GraphQLError, parse, specifiedRules, validate,
  type DocumentNode, type ExecutionArgs, type GraphQLSchema,
} from 'graphql/index.js';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Viewer } from '../services/shared/graphql/index.ts';
import type { Authenticator } from './auth.ts';
import { boundedSockets, type BoundedSocket } from './bounded-socket.ts';
import { createFanOut } from './fan-out.ts';
import { queryLimitRules, type QueryLimits } from './limits.ts';
import { badRequest, selectOperation } from './operation.ts';
import type { GatewayMetrics } from './metrics.ts';
import { socketAuthentication } from './socket-auth.ts';

export { SLOW_CONSUMER_CLOSE_CODE } from './bounded-socket.ts';

export interface SubscriptionOptions {
  schema: GraphQLSchema;
  /** A new operation context: with the socket's viewer for a subscribe, without one for a shared event. */
  context: (viewer: Viewer | undefined) => unknown;
  authenticator: Authenticator;
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  limits: QueryLimits;
  /** Largest message; a bigger one closes the socket with 1009. */
  maxPayloadBytes: number;
  /** Browser origins allowed besides the gateway's own; undefined: localhost and 127.0.0.1 on any port. */
  allowedOrigins: string[] | undefined;
  maxSubscriptionsPerSocket: number;
  /** Unsent bytes past which a socket is closed with 1013 (MAX_SOCKET_BUFFER_BYTES). */
  maxSocketBufferBytes: number;
  metrics: Pick<GatewayMetrics, 'subscriptionsActive' | 'subscriptionExecutions' | 'subscriptionDeliveries' | 'slowConsumers'>;
}

const LOCAL_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);
/** Between the adapter's pings; a socket that has not answered one within as long is terminated. */
const KEEP_ALIVE_MS = 12_000;
/** Parsed and validated documents kept by their text (10,000 subscribers of one operation parse it once). */
const MAX_CACHED_DOCUMENTS = 1000;

/** Serves subscriptions on the HTTP server's upgrade requests; the returned dispose closes every socket. */
export function attachSubscriptions(httpServer: Server, options: SubscriptionOptions): { dispose(): Promise<void> } {
  const { schema, metrics } = options;
  const wsServer = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayloadBytes,
    WebSocket: boundedSockets(options.maxSocketBufferBytes, () => metrics.slowConsumers.inc()),
  });
  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {}); // a client gone mid-handshake is no error of ours
    if (new URL(req.url ?? '/', 'http://gateway').pathname !== '/graphql') return refuseUpgrade(socket, 404, 'not found: subscriptions are served on /graphql');
    const refusal = originRefusal(req.headers.origin, req.headers.host, options.allowedOrigins);
    if (refusal) return refuseUpgrade(socket, 403, refusal);
    wsServer.handleUpgrade(req, socket, head, (ws) => {
      ws.tcp = socket as Socket;
      wsServer.emit('connection', ws, req);
    });
  });

  const documentFor = documentCache(schema, options.limits);
  const auth = socketAuthentication(options.authenticator);
  const fanOut = createFanOut();
  const formatErrors = (errors: readonly GraphQLError[]) => errors.map((error) => options.formatError(error.toJSON(), error));
  // A subscription's socket, id and operation (document text, operation name, variables), by its execution arguments.
  const subscribers = new WeakMap<ExecutionArgs, { socket: BoundedSocket; id: string; operation: string }>();

  /** graphql-js's subscribe, with the source's events delivered by the fan-out instead of executed per subscriber. */
  async function subscribe(args: ExecutionArgs) {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source;
    const to = subscribers.get(args);
    if (!to) throw new Error('a subscription reached subscribe without onSubscribe: its socket and id are unknown');
    const frameHead = `{"id":${JSON.stringify(to.id)},"type":"next","payload":`;
    metrics.subscriptionsActive.inc();
    return fanOut.subscribe(source as AsyncGenerator<unknown>, {
      operation: to.operation,
      async execute(event) {
        metrics.subscriptionExecutions.inc();
        const result = await execute({ ...args, rootValue: event, contextValue: options.context(undefined) });
        return JSON.stringify(result.errors ? { ...result, errors: formatErrors(result.errors) } : result);
      },
      write(payloads) {
        metrics.subscriptionDeliveries.inc(payloads.length);
        to.socket.sendAll(payloads.map((payload) => `${frameHead}${payload}}`));
      },
      ended: () => metrics.subscriptionsActive.dec(),
    });
  }

  const server = useServer<Record<string, unknown> | undefined, { socket: BoundedSocket; request: IncomingMessage }>({
    schema,
    context: (ctx) => options.context(auth.viewerOf(ctx.extra.socket)) as Record<string, unknown>,
    subscribe,
    onConnect: (ctx) => auth.connect(ctx.extra.socket, ctx.connectionParams),
    onSubscribe(ctx, id, payload) {
      const expired = auth.expired(ctx.extra.socket);
      if (expired) return expired;
      // graphql-ws registers the operation before this hook, so the count includes it.
      if (Object.keys(ctx.subscriptions).length > options.maxSubscriptionsPerSocket) {
        return [new GraphQLError(
          `this connection already runs ${options.maxSubscriptionsPerSocket} subscriptions, the most allowed (MAX_SUBSCRIPTIONS_PER_SOCKET): complete one first, or open another connection`,
          { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', max: options.maxSubscriptionsPerSocket } },
        )];
      }
      const { document, errors } = documentFor(payload.query);
      if (!document || errors.length) return [...errors];
      // graphql-ws itself would close the whole socket (4400) for a document that does not say which operation.
      const selected = selectOperation(document, payload.operationName);
      if (typeof selected === 'string') return [badRequest(selected)];
      const args = { schema, document, operationName: payload.operationName, variableValues: payload.variables };
      const operation = `${payload.operationName ?? ''}\n${JSON.stringify(payload.variables ?? {})}\n${payload.query}`;
      subscribers.set(args, { socket: ctx.extra.socket, id, operation });
      return args;
    },
    // The same mapping as over HTTP: known codes through, anything else masked.
    onError: (ctx, _id, _payload, errors) => auth.closeIfUnauthenticated(ctx.extra.socket, formatErrors(errors)),
    onNext: (ctx, _id, _payload, _args, result) => {
      metrics.subscriptionDeliveries.inc();
      // Only queries and mutations sent over the socket come here: subscriptions' frames are the fan-out's.
      return result.errors ? { ...result, errors: auth.closeIfUnauthenticated(ctx.extra.socket, formatErrors(result.errors as GraphQLError[])) } : undefined;
    },
  }, wsServer, KEEP_ALIVE_MS);

  return { dispose: async () => server.dispose() };
}

/** Parse and validate once per document text. A syntax error is that operation's (graphql-ws would close the socket). */
function documentCache(schema: GraphQLSchema, limits: QueryLimits) {
  const rules = [...specifiedRules, ...queryLimitRules(limits)];
  const documents = new Map<string, { document?: DocumentNode; errors: readonly GraphQLError[] }>();
  const check = (text: string) => {
    try {
      const document = parse(text, { maxTokens: limits.maxTokens });
      return { document, errors: validate(schema, document, rules) };
    } catch (error) {
      const { message, source, positions } = error as GraphQLError;
      return { errors: [new GraphQLError(message, { source, positions, extensions: { code: 'GRAPHQL_PARSE_FAILED' } })] };
    }
  };
  return (text: string) => {
    const entry = documents.get(text) ?? check(text);
    documents.delete(text); // most recently used last
    documents.set(text, entry);
    if (documents.size > MAX_CACHED_DOCUMENTS) documents.delete(documents.keys().next().value!);
    return entry;
  };
}

/** Why a page from `origin` may not open a WebSocket here (it would act with the user's cookies), or undefined. */
export function originRefusal(origin: string | undefined, host: string | undefined, allowed: string[] | undefined): string | undefined {
  if (origin === undefined) return undefined;
  const url = URL.parse(origin); // null for e.g. "null", from a sandboxed page or a file
  if (url && url.host === host) return undefined; // the gateway's own pages (the playground)
  if (url && (allowed ? allowed.some((a) => a === '*' || a.replace(/\/$/, '') === url.origin) : LOCAL_HOSTNAMES.has(url.hostname))) return undefined;
  return `WebSocket connections from origin ${origin} are not allowed: serve the page from this gateway, or add its origin to ALLOWED_ORIGINS`;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
