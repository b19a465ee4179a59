/**
 * Subscriptions over graphql-ws on `/graphql`, guarded like HTTP: browser origins are checked at the upgrade,
 * messages are bounded in size, and each operation is parsed and validated (the query limits included) on
 * its own, so a bad one is answered with an `error` for that operation while the socket stays open.
 *
 * Who is asking is settled once per socket, from the `connection_init` payload `{ "authorization": "Bearer
 * <jwt>" }`: no token is an anonymous socket; an invalid token, an operation that needs a user on an anonymous
 * socket, and the token's expiry while the socket is open close it with 4401.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GraphQLFormattedError } from 'graphql';
// The CommonJS build, as graphql-ws loads it: it tells errors from execution arguments by `instanceof GraphQLError`.
import { GraphQLError, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema } from 'graphql/index.js';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { SystemError } from '../services/shared/errors.ts';
import type { Viewer } from './access.ts';
import type { Authenticator } from './auth.ts';
import { queryLimitRules, type QueryLimits } from './limits.ts';

/** The close code of a socket without a valid token for what it asked (graphql-ws's Unauthorized). */
export const UNAUTHORIZED_CLOSE = 4401;
/** setTimeout's longest delay: a token valid for longer is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SubscriptionOptions {
  schema: GraphQLSchema;
  context: (viewer: Viewer | undefined) => unknown;
  authenticator: Authenticator;
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  limits: QueryLimits;
  /** Largest message; a bigger one closes the socket with 1009. */
  maxPayloadBytes: number;
  /** Browser origins allowed besides the gateway's own; undefined: localhost and 127.0.0.1 on any port. */
  allowedOrigins: string[] | undefined;
  maxSubscriptionsPerSocket: number;
}

const LOCAL_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Serves subscriptions on the HTTP server's upgrade requests; the returned dispose closes every socket. */
export function attachSubscriptions(httpServer: Server, options: SubscriptionOptions): { dispose(): void | Promise<void> } {
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes });
  const rules = [...specifiedRules, ...queryLimitRules(options.limits)];

  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {}); // a client gone mid-handshake is no error of ours
    const path = new URL(req.url ?? '/', 'http://gateway').pathname;
    if (path !== '/graphql') return refuseUpgrade(socket, 404, 'not found: subscriptions are served on /graphql');
    const refusal = originRefusal(req.headers.origin, req.headers.host, options.allowedOrigins);
    if (refusal) return refuseUpgrade(socket, 403, refusal);
    wsServer.handleUpgrade(req, socket, head, (ws) => wsServer.emit('connection', ws, req));
  });

  // Each socket's viewer, set by onConnect, and the timer that closes it when the token expires.
  const viewers = new WeakMap<object, Viewer>();
  const closeUnauthorized = (socket: { close(code: number, reason: string): void }, reason: string) =>
    socket.close(UNAUTHORIZED_CLOSE, reason.slice(0, 120)); // a close reason has at most 123 bytes
  const watchExpiry = (socket: WebSocketLike, viewer: Viewer) => {
    const left = viewer.expiresAt.getTime() - Date.now();
    const timer = setTimeout(() => {
      if (Date.now() >= viewer.expiresAt.getTime()) closeUnauthorized(socket, 'Unauthorized: the token expired');
      else watchExpiry(socket, viewer);
    }, Math.min(Math.max(0, left), MAX_TIMER_MS));
    socket.once('close', () => clearTimeout(timer));
  };

  return useServer(
    {
      schema: options.schema,
      context: (ctx) => options.context(viewers.get(ctx.extra.socket)),
      async onConnect(ctx) {
        const params = ctx.connectionParams ?? {};
        // The contract's key is `authorization`; GraphiQL sends its headers as they are named (`Authorization`).
        const key = Object.keys(params).find((name) => name.toLowerCase() === 'authorization');
        try {
          const viewer = await options.authenticator.fromAuthorization(key === undefined ? undefined : params[key]);
          if (!viewer) return true; // anonymous: only anonymous operations will run
          viewers.set(ctx.extra.socket, viewer);
          watchExpiry(ctx.extra.socket, viewer);
          return true;
        } catch (error) {
          const unavailable = error instanceof SystemError && error.code === 'UNAVAILABLE';
          if (unavailable) ctx.extra.socket.close(1013, 'the token could not be checked now: retry later');
          else closeUnauthorized(ctx.extra.socket, `Unauthorized: ${(error as Error).message}`);
          return false;
        }
      },
      onSubscribe(ctx, _id, payload) {
        const viewer = viewers.get(ctx.extra.socket);
        if (viewer && viewer.expiresAt.getTime() <= Date.now()) {
          closeUnauthorized(ctx.extra.socket, 'Unauthorized: the token expired');
          return [new GraphQLError('the token expired', { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        // graphql-ws registers the operation before this hook, so the count includes it; it forgets the
        // operation when it completes, fails or is cancelled.
        const running = Object.keys(ctx.subscriptions).length;
        if (running > options.maxSubscriptionsPerSocket) {
          return [new GraphQLError(
            `this connection already runs ${options.maxSubscriptionsPerSocket} subscriptions, the most allowed (MAX_SUBSCRIPTIONS_PER_SOCKET): complete one first, or open another connection`,
            { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', max: options.maxSubscriptionsPerSocket } },
          )];
        }
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          // graphql-ws itself would close the whole socket on a syntax error.
          const syntax = error as GraphQLError;
          return [new GraphQLError(syntax.message, { source: syntax.source, positions: syntax.positions, extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        const errors = validate(options.schema, document, rules);
        if (errors.length) return errors;
        return { schema: options.schema, document, operationName: payload.operationName, variableValues: payload.variables };
      },
      // The same mapping as over HTTP: known codes through, anything else masked. An operation that needs a user
      // on a socket without one is answered, then the socket is closed with 4401 (sign in, then reconnect).
      onError: (ctx, _id, _payload, errors) => closeIfUnauthenticated(ctx.extra.socket, errors.map((error) => options.formatError(error.toJSON(), error))),
      onNext: (ctx, _id, _payload, _args, result) =>
        result.errors
          ? { ...result, errors: closeIfUnauthenticated(ctx.extra.socket, result.errors.map((error) => options.formatError(error.toJSON(), error))) }
          : undefined,
    },
    wsServer,
  );

  function closeIfUnauthenticated(socket: WebSocketLike, errors: GraphQLFormattedError[]): GraphQLFormattedError[] {
    const refusal = errors.find((error) => error.extensions?.code === 'UNAUTHENTICATED');
    // After the answer is on its way: graphql-ws sends it once this hook returns.
    if (refusal) setImmediate(() => closeUnauthorized(socket, `Unauthorized: ${refusal.message}`));
    return errors;
  }
}

type WebSocketLike = { close(code: number, reason: string): void; once(event: 'close', listener: () => void): unknown };

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
