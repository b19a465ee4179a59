/**
 * Subscriptions over graphql-ws on `/graphql`, guarded like HTTP: browser origins are checked at the upgrade,
 * messages are bounded in size, and each operation is parsed and validated (the query limits included) on
 * its own, so a bad one is answered with an `error` for that operation while the socket stays open.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GraphQLFormattedError } from 'graphql';
// The CommonJS build, as graphql-ws loads it: it tells errors from execution arguments by `instanceof GraphQLError`.
import { GraphQLError, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema } from 'graphql/index.js';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { queryLimitRules, type QueryLimits } from './limits.ts';

export interface SubscriptionOptions {
  schema: GraphQLSchema;
  context: () => unknown;
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

  return useServer(
    {
      schema: options.schema,
      context: options.context,
      onSubscribe(ctx, _id, payload) {
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
      // The same mapping as over HTTP: known codes through, anything else masked.
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => options.formatError(error.toJSON(), error)),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((error) => options.formatError(error.toJSON(), error)) } : undefined,
    },
    wsServer,
  );
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
