/**
 * The gateway: Apollo Server over node:http for queries and mutations, graphql-ws on the same path for
 * subscriptions, `/healthz`, `/readyz` and `/metrics`. One Kafka consumer per gateway process feeds command
 * replies and live order updates. Every request is bounded (limits.ts, websocket.ts, MAX_BODY_BYTES).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { createBus, REPLAY_FOR_HEADER, type Bus } from '../services/shared/bus.ts';
import type { EachMessagePayload, KafkaMessage } from 'kafkajs';
import { runConsumer } from '../services/shared/consumer.ts';
import { databaseUrl } from '../services/shared/config.ts';
import { allowedOrigins, commandTimeoutMs, gatewayHost, headersTimeoutMs, healthSampleMs, maxAliases, maxBodyBytes, maxConnections, maxLag, maxQueryCost, maxQueryDepth, maxQueryTokens, maxSocketBufferBytes, maxSubscriptionsPerSocket, requestTimeoutMs, stallAfterMs } from './config.ts';
import { createPrisma, type PrismaClient } from '../services/shared/db.ts';
import { SystemError } from '../services/shared/errors.ts';
import type { GatewayContext, GatewayServices, GraphQLSlice, StartedSlice, Viewer } from '../services/shared/graphql/index.ts';
import { createLogger } from '../services/shared/log.ts';
import { decodeReply, RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { foreignClusters, logMismatch } from '../services/shared/projector.ts';
import { authConfig, createAuthenticator, signToken, type AuthConfig } from './auth.ts';
import { createCommandGateway } from './commands.ts';
import { createErrorFormatter } from './errors.ts';
import { devTokenRefusal, isLoopbackHost } from './dev-tokens.ts';
import { connectUrlFromEnv, declaredConnectors, watchConnectors } from './connectors.ts';
import { compiledExecution, withoutFieldHooks } from './executor.ts';
import { startHealthSampler, type HealthOptions } from './health.ts';
import { enforceInputLimits } from './input-limits.ts';
import { queryLimitRules, type QueryLimits } from './limits.ts';
import { createMetrics } from './metrics.ts';
import { buildApp, serveApp } from './app/index.ts';
import { buildPlayground, servePlayground } from './playground/index.ts';
import { badRequest, selectOperation, SUBSCRIPTION_OVER_HTTP } from './operation.ts';
import { createProjectionWatcher } from './progress.ts';
import { createLogEnd } from './log-end.ts';
import { eventResolvers } from './events.ts';
import { DateTime } from './scalars.ts';
import { composeSchema } from './schema.ts';
import { loadDomains, type ServedDomain } from './slices.ts';
import { attachSubscriptions } from './websocket.ts';


export interface GatewayOptions {
  /** Default: PORT, or 4000. Pass 0 for a free port. */
  port: number;
  /** The interface to listen on. Default: HOST, or 127.0.0.1 (this machine only: see README, Exposing the gateway). */
  host?: string;
  /** Time a client has to send a request's headers, in ms (then 408). Default: HEADERS_TIMEOUT_MS, or 10000. */
  headersTimeoutMs?: number;
  /** Time a client has to send a whole request, in ms (then 408). Default: REQUEST_TIMEOUT_MS, or 30000. */
  requestTimeoutMs?: number;
  /** Open connections (WebSockets included) past which new ones are closed at once. Default: MAX_CONNECTIONS, or 20000. */
  maxConnections?: number;
  /** Default: COMMAND_TIMEOUT_MS, or 10000. */
  commandTimeoutMs?: number;
  /** The read-side client. Default: one on DATABASE_URL. */
  prisma?: PrismaClient;
  /** Query depth, alias, cost and token limits. Default: MAX_QUERY_DEPTH, MAX_ALIASES, MAX_QUERY_COST, MAX_QUERY_TOKENS (10, 30, 10000, 2000). */
  limits?: Partial<QueryLimits>;
  /** Largest request body and WebSocket message, in bytes. Default: MAX_BODY_BYTES, or 1000000. */
  maxBodyBytes?: number;
  /** Browser origins allowed to open a WebSocket. Default: ALLOWED_ORIGINS, or the gateway's own and localhost. */
  allowedOrigins?: string[];
  /** Default: MAX_SUBSCRIPTIONS_PER_SOCKET, or 100. */
  maxSubscriptionsPerSocket?: number;
  /** How bearer tokens are verified. Default: JWT_SECRET / JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE (auth.ts). */
  auth?: AuthConfig;
  /** Queries through the compiled executor (gateway/executor.ts). Default: true; false runs every operation through graphql-js (comparisons). */
  compiledQueries?: boolean;
  /** Unsent bytes past which a WebSocket is closed with 1013 "slow consumer". Default: MAX_SOCKET_BUFFER_BYTES, or 4 MiB. */
  maxSocketBufferBytes?: number;
  /** Readiness sampling. Default: HEALTH_SAMPLE_MS, STALL_AFTER_MS, MAX_LAG (2000, 30000, 10000), no extra checks. */
  health?: Partial<HealthOptions>;
  /** Kafka Connect's REST API, for the declared connectors' readiness and /metrics. Default: CONNECT_URL, or none. */
  connectUrl?: string;
  /** The domains it serves (contract and GraphQL slice). Default: services/domains.ts, composed into schema.graphql. */
  domains?: ServedDomain[];
}

export interface RunningGateway {
  url: string;
  wsUrl: string;
  port: number;
  stop(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const log = createLogger('gateway');
  const playground = await buildPlayground(log);
  const app = await buildApp(log);
  const bus = await createBus({ clientId: 'gateway' });
  // The facts drivers stream (positions, thousands a second) on a Kafka client of their own: see createCommandGateway.
  const facts = await createBus({ clientId: 'gateway-facts' });
  const prisma = options.prisma ?? createPrisma();
  const watcher = await createProjectionWatcher(databaseUrl());
  const metrics = createMetrics();
  const auth = options.auth ?? authConfig();
  const authenticator = createAuthenticator(auth);
  const bodyLimit = options.maxBodyBytes ?? maxBodyBytes();
  const limits: QueryLimits = {
    maxDepth: options.limits?.maxDepth ?? maxQueryDepth(),
    maxAliases: options.limits?.maxAliases ?? maxAliases(),
    maxCost: options.limits?.maxCost ?? maxQueryCost(),
    maxTokens: options.limits?.maxTokens ?? maxQueryTokens(),
  };
  const host = options.host ?? gatewayHost();

  const domains = options.domains ?? (await loadDomains());
  const contracts = domains.map(({ contract }) => contract);
  // Which projectors must have applied a topic's message before queries can see it (from the contracts).
  const projections = contracts.flatMap((contract) => contract.projections);
  const projectorsOf = (topic: string): string[] =>
    projections.filter((p) => p.topics.some((t) => bus.topic(t) === topic)).map((p) => bus.prefix + p.name);

  const services: GatewayServices = {
    prisma,
    watcher,
    projectorsOf,
    logEnd: createLogEnd(bus),
    commands: createCommandGateway(bus, watcher, projectorsOf, metrics.commandSeconds, facts),
    commandTimeoutMs: options.commandTimeoutMs ?? commandTimeoutMs(),
  };
  const slices = domains.map(({ slice }) => slice);
  const started = new Map(slices.map((slice) => [slice.domain, slice.start(services, log)]));
  const createContext = (viewer: Viewer | undefined): GatewayContext => ({
    ...services,
    viewer,
    ...Object.fromEntries([...started].map(([domain, slice]) => [domain, slice.context()])),
  });
  const consumer = await consumeGatewayTopics(bus, services, slices, started, log);
  // The projections the gateway reads must come from the log the brokers hold (a wiped broker, another cluster).
  const projectors = projections.map((p) => bus.prefix + p.name);
  const projectedFromThisLog = async () => {
    const clusterId = await bus.clusterId();
    const foreign = await foreignClusters(prisma, projectors, clusterId);
    return foreign.length ? logMismatch(foreign, clusterId).message : undefined;
  };
  const connectUrl = options.connectUrl ?? connectUrlFromEnv();
  const connectors = connectUrl ? watchConnectors({ url: connectUrl, connectors: declaredConnectors(contracts, bus.prefix), metrics }) : undefined;
  const health = await startHealthSampler(
    { bus, prisma, metrics, contracts, ownConsumer: consumer.problem },
    {
      sampleMs: options.health?.sampleMs ?? healthSampleMs(),
      stallAfterMs: options.health?.stallAfterMs ?? stallAfterMs(),
      maxLag: options.health?.maxLag ?? maxLag(),
      readinessChecks: [projectedFromThisLog, ...(connectors ? [connectors.check] : []), ...(options.health?.readinessChecks ?? [])],
    },
  );

  const schema = enforceInputLimits(makeExecutableSchema<GatewayContext>({
    typeDefs: composeSchema(slices.map((slice) => slice.typeDefs)),
    resolvers: [{ DateTime }, eventResolvers, ...slices.map((slice) => slice.resolvers)] as never,
  }));
  const examples = JSON.stringify(slices.flatMap((slice) => slice.examples));
  const headersTimeout = options.headersTimeoutMs ?? headersTimeoutMs();
  // Node's defaults hold a client that trickles its request for 300 s and accept connections without end.
  const httpServer = createServer({
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, options.requestTimeoutMs ?? requestTimeoutMs()),
    // How often Node looks for requests past those timeouts (default 30 s, which would add up to that much).
    connectionsCheckingInterval: Math.min(1_000, headersTimeout),
  });
  httpServer.maxConnections = options.maxConnections ?? maxConnections();
  const formatError = createErrorFormatter(log);
  const wsCleanup = attachSubscriptions(httpServer, {
    schema,
    context: createContext,
    authenticator,
    formatError,
    limits,
    maxPayloadBytes: bodyLimit,
    allowedOrigins: options.allowedOrigins ?? allowedOrigins(),
    maxSubscriptionsPerSocket: options.maxSubscriptionsPerSocket ?? maxSubscriptionsPerSocket(),
    maxSocketBufferBytes: options.maxSocketBufferBytes ?? maxSocketBufferBytes(),
    metrics,
  });
  const apollo = new ApolloServer<GatewayContext>({
    ...compiledExecution(schema, { jit: options.compiledQueries ?? true }),
    formatError,
    validationRules: queryLimitRules(limits),
    parseOptions: { maxTokens: limits.maxTokens },
    // The schema is the public contract and the playground's docs read it, also in production.
    introspection: true,
    // The process's owner decides when to stop: Apollo's signal handlers would race it and leave the process waiting.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: process.env.NODE_ENV === 'development',
    plugins: [
      ...withoutFieldHooks(),
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // A document that does not say which operation to run, or a subscription, is refused with 400 before it runs.
      {
        async requestDidStart() {
          return {
            async didResolveOperation({ document, request }) {
              const selected = selectOperation(document, request.operationName);
              if (typeof selected === 'string') throw badRequest(selected, 400);
              if (selected.operation === 'subscription') throw badRequest(SUBSCRIPTION_OVER_HTTP, 400);
            },
          };
        },
      },
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
      // An operation refused for want of a user answers 401, as a request with an invalid token does.
      {
        async requestDidStart() {
          return {
            async willSendResponse({ response }) {
              const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
              if (!errors?.some((error) => error.extensions?.code === 'UNAUTHENTICATED')) return;
              response.http.status = 401;
              response.http.headers.set('www-authenticate', 'Bearer');
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  httpServer.on('request', (req, res) => {
    void route(req, res).catch((error: Error) => {
      log.error(`request failed: ${error.stack}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }));
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname === '/healthz') return liveness(res);
    if (url.pathname === '/readyz') return readiness(res);
    if (url.pathname === '/metrics') return serveMetrics(res);
    if (url.pathname === '/auth/dev-tokens') return devTokens(req, res);
    if (url.pathname === '/graphiql/examples.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(examples);
    }
    if (url.pathname === '/graphiql' || url.pathname.startsWith('/graphiql/')) return servePlayground(playground, req, res, url.pathname);
    if (url.pathname === '/app' || url.pathname.startsWith('/app/')) return serveApp(app, req, res, url.pathname);
    if (url.pathname !== '/graphql') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found: the GraphQL endpoint is /graphql\n');
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const body = req.method === 'POST' ? await readJsonBody(req, bodyLimit) : undefined;
    if (body === TOO_LARGE) return refuseTooLarge(req, res, bodyLimit);
    // After the body is read (bounded): answering before would reset a client still sending it.
    let viewer: Viewer | undefined;
    try {
      viewer = await authenticator.fromAuthorization(req.headers.authorization);
    } catch (error) {
      if (!(error instanceof SystemError)) throw error;
      const status = error.code === 'UNAUTHENTICATED' ? 401 : 503;
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 401 && { 'www-authenticate': 'Bearer error="invalid_token"' }) });
      return res.end(JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code, retriable: error.retriable } }] }));
    }
    if (body instanceof Error) {
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ errors: [{ message: body.message, extensions: { code: 'BAD_REQUEST' } }] }));
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
      context: async () => createContext(viewer),
    });
    res.statusCode = response.status ?? 200;
    for (const [key, value] of response.headers) res.setHeader(key, value);
    if (response.body.kind === 'complete') return res.end(response.body.string);
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

  // Liveness: the process answers. Dependencies are reported, not judged: restarting gateways brings no Kafka back.
  function liveness(res: ServerResponse) {
    const { kafka, postgres } = health.latest();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', kafka, postgres }));
  }

  // Readiness: the whole pipeline moves. Every reason it does not, as a sentence, from the latest sample.
  function readiness(res: ServerResponse) {
    const { ready, reasons, ...latest } = health.latest();
    const sample = { ...latest, ...(connectors && { connectors: connectors.latest() }) };
    res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ready ? { status: 'ready', ...sample } : { status: 'not ready', reasons, ...sample }));
  }

  /** An admin and a customer token for this gateway's own pages, only to this machine: see devTokenRefusal. */
  async function devTokens(req: IncomingMessage, res: ServerResponse) {
    const refusal = devTokenRefusal({
      generatedSecret: authenticator.generatedSecret,
      listeningOn: host,
      peer: req.socket.remoteAddress,
      hostHeader: req.headers.host,
    });
    if (refusal) {
      res.writeHead(refusal.status, { 'content-type': 'text/plain' });
      return res.end(`${refusal.message}\n`);
    }
    const ttlSeconds = DEV_TOKEN_TTL_S;
    const [admin, customer] = await Promise.all([
      signToken({ sub: 'admin', roles: ['admin'], ttlSeconds }, auth),
      signToken({ sub: 'alice', roles: ['customer'], ttlSeconds }, auth),
    ]);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ admin, customer }));
  }

  async function serveMetrics(res: ServerResponse) {
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(text);
  }

  await new Promise<void>((ready, failed) => {
    httpServer.once('error', failed);
    httpServer.listen(options.port, host, () => {
      httpServer.off('error', failed);
      ready();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  log.info(`listening on http://localhost:${port}/graphql` + (isLoopbackHost(host) ? '' : ` and on ${host} (HOST): other machines can reach it`));

  return {
    port,
    url: `http://localhost:${port}/graphql`,
    wsUrl: `ws://localhost:${port}/graphql`,
    async stop() {
      for (const slice of started.values()) slice.close();
      await apollo.stop();
      await health.stop();
      await consumer.stop();
      await Promise.all([bus.close(), facts.close()]);
      await watcher.close();
      if (!options.prisma) await prisma.$disconnect();
    },
  };
}

/**
 * Command replies and the live feeds' topics, read by this gateway process alone (fresh groups, from the latest
 * offset). Replies have a consumer of their own: on the feeds' consumer a reply waited for the fetch before it, and
 * for every message fetched with it (thousands of positions a second), before the mutation waiting on it could go on.
 */
async function consumeGatewayTopics(
  bus: Bus,
  services: GatewayServices,
  slices: GraphQLSlice[],
  started: Map<string, StartedSlice>,
  log: ReturnType<typeof createLogger>,
) {
  const group = `gateway.${randomUUID()}`;
  const followers = new Map<string, StartedSlice[]>();
  for (const slice of slices) {
    for (const topic of slice.follows) followers.set(bus.topic(topic), [...(followers.get(bus.topic(topic)) ?? []), started.get(slice.domain)!]);
  }
  /** Each message of the group's topics, but replayed dead letters (not news); an unreadable one is logged and skipped. */
  const reading = (handle: (topic: string, partition: number, message: KafkaMessage) => void) => () => ({
    // Committed although the group is this process's own: after a rejoin it resumes where it was, dropping nothing.
    eachMessage: async ({ topic, partition, message }: EachMessagePayload) => {
      if (message.headers?.[REPLAY_FOR_HEADER] !== undefined) return;
      try {
        handle(topic, partition, message);
      } catch (error) {
        log.warn(`ignoring an unreadable message on ${topic}/${partition}@${message.offset}: ${(error as Error).message}`);
      }
    },
  });
  const follows = [...new Set(slices.flatMap((slice) => slice.follows))];
  const repliesGroup = `${group}.replies`;
  const groups = [repliesGroup, ...(follows.length ? [group] : [])];
  const consumers = await Promise.all([
    runConsumer(bus, {
      group: repliesGroup,
      topics: [RUNTIME_TOPICS.commandReplies],
      fromBeginning: false,
      run: reading((_, __, message) => services.commands.onReply(decodeReply(message.value))),
    }, log),
    ...(follows.length ? [runConsumer(bus, {
      group,
      topics: follows,
      fromBeginning: false,
      run: reading((topic, partition, message) => {
        const logical = bus.logicalTopic(topic);
        for (const slice of followers.get(topic) ?? []) slice.onMessage(logical, message, { topic, partition, offset: message.offset });
      }),
    }, log)] : []),
  ]);
  return {
    /** What is wrong with these consumers, if anything, for readiness. */
    problem: () => consumers.map((consumer) => consumer.health().problem).find((problem) => problem !== undefined),
    async stop() {
      await Promise.all(consumers.map((consumer) => consumer.stop()));
      await Promise.all(groups.map((name) => bus.deleteGroup(name)));
    },
  };
}

/** Lifetime of the tokens the development pages get (12 h): a page open longer gets new ones on reload. */
const DEV_TOKEN_TTL_S = 12 * 3600;

/** What readJsonBody answers for a body over the limit: the caller refuses it with 413. */
const TOO_LARGE = Symbol('too large');

function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolveBody) => {
    // Refused before reading a byte when the client says how much it sends.
    if (Number(req.headers['content-length'] ?? 0) > maxBytes) return resolveBody(TOO_LARGE);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > maxBytes) return; // already refused: the rest is discarded
      size += chunk.length;
      if (size > maxBytes) resolveBody(TOO_LARGE);
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > maxBytes) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) return resolveBody(undefined);
      try {
        resolveBody(JSON.parse(text));
      } catch {
        resolveBody(new Error('request body is not valid JSON'));
      }
    });
  });
}

/**
 * Answers 413 at once but ends the response only once the rest of the body is read and discarded: closing a socket
 * that still receives data resets it, which can destroy the answer before the client reads it.
 */
function refuseTooLarge(req: IncomingMessage, res: ServerResponse, maxBytes: number) {
  const body = JSON.stringify({
    errors: [{
      message: `request body is larger than ${maxBytes} bytes (MAX_BODY_BYTES): send fewer or smaller operations per request`,
      extensions: { code: 'PAYLOAD_TOO_LARGE', max: maxBytes },
    }],
  });
  res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.write(body);
  if (req.complete) return res.end();
  req.on('end', () => res.end());
  req.resume();
}
