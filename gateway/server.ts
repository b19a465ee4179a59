/**
 * The gateway: Apollo Server over node:http for queries and mutations, graphql-ws on the same path for
 * subscriptions, and `/healthz`. One Kafka consumer per gateway process feeds command replies and
 * live order updates.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { createBus, isKafkaReachable, joined, type Bus } from '../services/shared/bus.ts';
import { commandTimeoutMs, databaseUrl } from '../services/shared/config.ts';
import { createPrisma, type PrismaClient } from '../services/shared/db.ts';
import { createLogger } from '../services/shared/log.ts';
import { commandReplySchema, decode, TOPICS } from '../services/shared/messages.ts';
import { SERVICES } from '../services/index.ts';
import { createCommandGateway } from './commands.ts';
import { createContext, type GatewayContext, type GatewayServices } from './context.ts';
import { createErrorFormatter } from './errors.ts';
import { createOrderFeed } from './feed.ts';
import { enforceInputLimits } from './input-limits.ts';
import { buildPlayground, servePlayground } from './playground/index.ts';
import { createProjectionWatcher } from './progress.ts';
import { resolvers } from './resolvers.ts';

export const typeDefs = readFileSync(resolve(import.meta.dirname, '../schema.graphql'), 'utf8');

export interface GatewayOptions {
  /** Default: PORT, or 4000. Pass 0 for a free port. */
  port: number;
  host?: string;
  /** Default: COMMAND_TIMEOUT_MS, or 10000. */
  commandTimeoutMs?: number;
  /** The read-side client. Default: one on DATABASE_URL. */
  prisma?: PrismaClient;
}

export interface RunningGateway {
  url: string;
  wsUrl: string;
  port: number;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 1_000_000;

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const log = createLogger('gateway');
  const playground = await buildPlayground(log);
  const bus = await createBus({ clientId: 'gateway' });
  const prisma = options.prisma ?? createPrisma();
  const watcher = await createProjectionWatcher(databaseUrl());

  // Which projectors must have applied a topic's message before queries can see it.
  const projectorsOf = (topic: string): string[] =>
    SERVICES.flatMap((s) => s.projections ?? [])
      .filter((p) => p.topics.some((t) => bus.topic(t) === topic))
      .map((p) => bus.prefix + p.name);

  const services: GatewayServices = {
    prisma,
    commands: createCommandGateway(bus, watcher, projectorsOf),
    feed: createOrderFeed(prisma, watcher, projectorsOf, log),
    commandTimeoutMs: options.commandTimeoutMs ?? commandTimeoutMs(),
  };
  const stopConsumer = await consumeGatewayTopics(bus, services, log);

  const schema = enforceInputLimits(makeExecutableSchema<GatewayContext>({ typeDefs, resolvers: resolvers as never }));
  const httpServer = createServer();
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });
  const formatError = createErrorFormatter(log);
  const wsCleanup = useServer(
    {
      schema,
      context: () => createContext(services),
      // The same mapping as over HTTP: known codes through, anything else masked.
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => formatError(error.toJSON(), error)),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) } : undefined,
    },
    wsServer,
  );
  const apollo = new ApolloServer<GatewayContext>({
    schema,
    formatError,
    // The schema is the public contract and the playground's docs read it, also in production.
    introspection: true,
    // The process's owner (gateway/main.ts, a test) decides when to stop; Apollo's own signal handlers would
    // race it and leave the process waiting.
    stopOnTerminationSignals: false,
    includeStacktraceInErrorResponses: process.env.NODE_ENV === 'development',
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
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
    if (url.pathname === '/healthz') return health(res);
    if (url.pathname === '/graphiql' || url.pathname.startsWith('/graphiql/')) return servePlayground(playground, req, res, url.pathname);
    if (url.pathname !== '/graphql') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found: the GraphQL endpoint is /graphql\n');
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const body = req.method === 'POST' ? await readJsonBody(req) : undefined;
    if (body instanceof Error) {
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ errors: [{ message: body.message, extensions: { code: 'BAD_REQUEST' } }] }));
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
      context: async () => createContext(services),
    });
    res.statusCode = response.status ?? 200;
    for (const [key, value] of response.headers) res.setHeader(key, value);
    if (response.body.kind === 'complete') return res.end(response.body.string);
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  }

  async function health(res: ServerResponse) {
    const [kafka, postgres] = await Promise.all([
      withTimeout(isKafkaReachable(bus.kafka), 2000),
      withTimeout(prisma.$queryRaw`SELECT 1`.then(() => true), 2000),
    ]);
    const ok = kafka && postgres;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', kafka: kafka ? 'ok' : 'unreachable', postgres: postgres ? 'ok' : 'unreachable' }));
  }

  await new Promise<void>((ready) => httpServer.listen(options.port, options.host ?? '0.0.0.0', ready));
  const { port } = httpServer.address() as AddressInfo;
  log.info(`listening on http://localhost:${port}/graphql`);

  return {
    port,
    url: `http://localhost:${port}/graphql`,
    wsUrl: `ws://localhost:${port}/graphql`,
    async stop() {
      services.feed.close();
      await apollo.stop();
      await stopConsumer();
      await bus.close();
      await watcher.close();
      if (!options.prisma) await prisma.$disconnect();
    },
  };
}

/** Replies and order events, read by this gateway process alone (a fresh group, from the latest offset). */
async function consumeGatewayTopics(bus: Bus, services: GatewayServices, log: ReturnType<typeof createLogger>) {
  const group = `gateway.${randomUUID()}`;
  const consumer = bus.createConsumer(group);
  await consumer.connect();
  const replies = bus.topic(TOPICS.commandReplies);
  for (const topic of [TOPICS.commandReplies, TOPICS.orderEvents, TOPICS.orderValidations]) {
    await consumer.subscribe({ topic: bus.topic(topic), fromBeginning: false });
  }
  const ready = joined(consumer);
  await consumer.run({
    // Committed although the group is this process's own: after a rejoin (broker restart, long stall) it
    // resumes where it was instead of at the latest offset, which would drop replies and updates. Once a
    // second, not after every batch: a commit round trip per batch would delay every reply.
    autoCommitInterval: 1000,
    eachMessage: async ({ topic, partition, message }) => {
      try {
        if (topic === replies) {
          services.commands.onReply(commandReplySchema.parse(JSON.parse(message.value!.toString())));
          return;
        }
        const event = decode(message.value);
        if (event.kind === 'event') services.feed.onEvent(event, { topic, partition, offset: message.offset });
      } catch (error) {
        log.warn(`ignoring an unreadable message on ${topic}/${partition}@${message.offset}: ${(error as Error).message}`);
      }
    },
  });
  await ready;
  return async () => {
    await consumer.disconnect();
    await bus.deleteGroup(group);
  };
}

function withTimeout(check: Promise<boolean>, ms: number): Promise<boolean> {
  return Promise.race([check.catch(() => false), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
}

function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolveBody) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolveBody(new Error(`request body exceeds ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
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
