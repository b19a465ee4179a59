/**
 * Subscriptions over graphql-ws on `/graphql`, guarded like HTTP: browser origins are checked at the upgrade,
 * messages are bounded in size, and each operation is parsed and validated (the query limits included) on
 * its own, so a bad one is answered with an `error` for that operation while the socket stays open.
 *
 * Multiplexed (fan-out.ts): every subscriber runs its own subscribe resolver, but each event its feed pushes is
 * executed once per operation, with a context of its own made for it (fresh loaders, nothing of any one
 * subscriber), and its payload written to every subscriber it reached.
 *
 * Who is asking is settled once per socket (socket-auth.ts): an invalid token, an operation that needs a user on an
 * anonymous socket, and the token's expiry while the socket is open close it with 4401.
 *
 * Bounded: a socket whose unsent bytes pass `maxSocketBufferBytes` (a client that stopped reading) is closed
 * with 1013 "slow consumer" instead of buffering more; sends never wait on a client, so one slow socket holds
 * up no other.
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
import { CloseCode, handleProtocols, makeServer } from 'graphql-ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { Viewer } from './access.ts';
import type { Authenticator } from './auth.ts';
import { queryLimitRules, type QueryLimits } from './limits.ts';
import { badRequest, selectOperation } from './operation.ts';
import { createFanOut } from './fan-out.ts';
import type { GatewayMetrics } from './metrics.ts';
import { socketAuthentication } from './socket-auth.ts';


export interface SubscriptionOptions {
  schema: GraphQLSchema;
  /**
   * A new operation context. Each subscribe gets one with its socket's viewer (the subscribe resolver, where a
   * subscriber is authorized, sees that one); each shared event gets one without a viewer: what executes an
   * event depends on no subscriber.
   */
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
/** The close code for a slow consumer: the standard "try again later". */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;
/** Between pings; a socket that has not answered the previous one by the next is terminated. */
const KEEP_ALIVE_MS = 12_000;
/** Parsed and validated documents kept by their text (10,000 subscribers of one operation parse it once). */
const MAX_CACHED_DOCUMENTS = 1000;
/** Serves subscriptions on the HTTP server's upgrade requests; the returned dispose closes every socket. */
export function attachSubscriptions(httpServer: Server, options: SubscriptionOptions): { dispose(): Promise<void> } {
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, handleProtocols });
  const rules = [...specifiedRules, ...queryLimitRules(options.limits)];
  const documents = new Map<string, { document: DocumentNode; errors: readonly GraphQLError[] }>();
  const fanOut = createFanOut();
  // A subscription's socket, id and operation (document text, operation name, variables), by its execution arguments.
  const subscribers = new WeakMap<ExecutionArgs, { socket: WebSocket; id: string; operation: string }>();
  // Each WebSocket's TCP socket (the one its upgrade came on), to write several frames in one go.
  const tcpSockets = new WeakMap<WebSocket, Socket>();

  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {}); // a client gone mid-handshake is no error of ours
    const path = new URL(req.url ?? '/', 'http://gateway').pathname;
    if (path !== '/graphql') return refuseUpgrade(socket, 404, 'not found: subscriptions are served on /graphql');
    const refusal = originRefusal(req.headers.origin, req.headers.host, options.allowedOrigins);
    if (refusal) return refuseUpgrade(socket, 403, refusal);
    wsServer.handleUpgrade(req, socket, head, (ws) => {
      tcpSockets.set(ws, socket as Socket);
      wsServer.emit('connection', ws, req);
    });
  });

  /** Parse and validate, once per document text. */
  function documentFor(text: string): { document: DocumentNode; errors: readonly GraphQLError[] } {
    const known = documents.get(text);
    if (known) {
      documents.delete(text); // most recently used last
      documents.set(text, known);
      return known;
    }
    const document = parse(text, { maxTokens: options.limits.maxTokens });
    const entry = { document, errors: validate(options.schema, document, rules) };
    documents.set(text, entry);
    if (documents.size > MAX_CACHED_DOCUMENTS) documents.delete(documents.keys().next().value!);
    return entry;
  }

  const auth = socketAuthentication(options.authenticator);
  const formatErrors = (errors: readonly GraphQLError[]) => errors.map((error) => options.formatError(error.toJSON(), error));

  /** Writes one frame, unless the socket is closing; closes a socket whose unsent bytes passed the bound instead. */
  function sendFrame(socket: WebSocket, frame: string): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount > options.maxSocketBufferBytes) {
      options.metrics.slowConsumers.inc();
      socket.close(SLOW_CONSUMER_CLOSE_CODE, `slow consumer: over ${options.maxSocketBufferBytes} bytes unsent (MAX_SOCKET_BUFFER_BYTES)`);
      return;
    }
    socket.send(frame);
  }

  /** graphql-js's subscribe, with the source's events delivered by the fan-out instead of executed per subscriber. */
  async function subscribe(args: ExecutionArgs) {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source;
    const to = subscribers.get(args);
    if (!to) throw new Error('a subscription reached subscribe without onSubscribe: its socket and id are unknown');
    const frameHead = `{"id":${JSON.stringify(to.id)},"type":"next","payload":`;
    options.metrics.subscriptionsActive.inc();
    return fanOut.subscribe(source as AsyncGenerator<unknown>, {
      operation: to.operation,
      async execute(event) {
        options.metrics.subscriptionExecutions.inc();
        const result = await execute({ ...args, rootValue: event, contextValue: options.context(undefined) });
        return JSON.stringify(result.errors ? { ...result, errors: formatErrors(result.errors) } : result);
      },
      // Several frames in one write.
      write(payloads) {
        options.metrics.subscriptionDeliveries.inc(payloads.length);
        const tcp = payloads.length > 1 ? tcpSockets.get(to.socket) : undefined;
        tcp?.cork();
        for (const payload of payloads) sendFrame(to.socket, `${frameHead}${payload}}`);
        tcp?.uncork();
      },
      ended: () => options.metrics.subscriptionsActive.dec(),
    });
  }

  const server = makeServer<Record<string, unknown> | undefined, { socket: WebSocket; request: IncomingMessage }>({
    schema: options.schema,
    context: (ctx) => options.context(auth.viewerOf(ctx.extra.socket)) as Record<string, unknown>,
    subscribe,
    onConnect: (ctx) => auth.connect(ctx.extra.socket, ctx.connectionParams),
    onSubscribe(ctx, id, payload) {
      const expired = auth.expired(ctx.extra.socket);
      if (expired) return expired;
      // graphql-ws registers the operation before this hook, so the count includes it; it forgets the
      // operation when it completes, fails or is cancelled.
      const running = Object.keys(ctx.subscriptions).length;
      if (running > options.maxSubscriptionsPerSocket) {
        return [new GraphQLError(
          `this connection already runs ${options.maxSubscriptionsPerSocket} subscriptions, the most allowed (MAX_SUBSCRIPTIONS_PER_SOCKET): complete one first, or open another connection`,
          { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', max: options.maxSubscriptionsPerSocket } },
        )];
      }
      let entry: ReturnType<typeof documentFor>;
      try {
        entry = documentFor(payload.query);
      } catch (error) {
        // graphql-ws itself would close the whole socket on a syntax error.
        const syntax = error as GraphQLError;
        return [new GraphQLError(syntax.message, { source: syntax.source, positions: syntax.positions, extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
      }
      if (entry.errors.length) return [...entry.errors];
      // graphql-ws itself would close the whole socket (4400) for a document that does not say which operation.
      const selected = selectOperation(entry.document, payload.operationName);
      if (typeof selected === 'string') return [badRequest(selected)];
      const args = { schema: options.schema, document: entry.document, operationName: payload.operationName, variableValues: payload.variables };
      const operation = `${payload.operationName ?? ''}\n${JSON.stringify(payload.variables ?? {})}\n${payload.query}`;
      subscribers.set(args, { socket: ctx.extra.socket, id, operation });
      return args;
    },
    // The same mapping as over HTTP: known codes through, anything else masked.
    onError: (ctx, _id, _payload, errors) => auth.closeIfUnauthenticated(ctx.extra.socket, formatErrors(errors)),
    onNext: (ctx, _id, _payload, _args, result) => {
      options.metrics.subscriptionDeliveries.inc();
      // Only queries and mutations sent over the socket come here: subscriptions' frames are the fan-out's.
      return result.errors ? { ...result, errors: auth.closeIfUnauthenticated(ctx.extra.socket, formatErrors(result.errors as GraphQLError[])) } : undefined;
    },
  });

  wsServer.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    socket.once('error', () => socket.terminate());
    let answered = true;
    socket.on('pong', () => (answered = true));
    const keepAlive = setInterval(() => {
      if (!answered) return socket.terminate();
      answered = false;
      socket.ping();
    }, KEEP_ALIVE_MS);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        // Never waits for the client: what it has not read yet is bounded by maxSocketBufferBytes instead.
        send: (data) => sendFrame(socket, data),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) => socket.on('message', (message) => {
          // As graphql-ws's own adapter: the cause only outside production (a close reason is at most 123 bytes).
          handle(String(message)).catch((error: Error) =>
            socket.close(CloseCode.InternalServerError, process.env.NODE_ENV === 'production' ? 'Internal server error' : error.message.slice(0, 100)));
        }),
      },
      { socket, request },
    );
    socket.once('close', (code, reason) => {
      clearInterval(keepAlive);
      void closed(code, String(reason));
    });
  });

  return {
    async dispose() {
      for (const client of wsServer.clients) client.close(1001, 'Going away');
      await new Promise<void>((resolveClosed) => wsServer.close(() => resolveClosed()));
    },
  };
}

/**
 * Why a page from `origin` may not open a WebSocket here (it would act with the user's cookies and network
 * position), or undefined when it may. No Origin header: not a browser, nothing to protect.
 */
export function originRefusal(origin: string | undefined, host: string | undefined, allowed: string[] | undefined): string | undefined {
  if (origin === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    url = undefined; // e.g. "null" from a sandboxed page or a file
  }
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
