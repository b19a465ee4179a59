/**
 * What the gateway gives every domain's GraphQL slice: the read side (Prisma), the write side (commands with
 * read-your-writes), and projection progress. A slice adds its own per-operation context (DataLoaders, live
 * feeds) under its domain's name.
 */
import type { PrismaClient } from '../services/shared/db.ts';
import type { Logger } from '../services/shared/log.ts';
import type { LogPosition } from '../services/shared/messages.ts';
import type { Viewer } from './access.ts';
import type { CommandGateway } from './commands.ts';
import type { ProjectionWatcher } from './progress.ts';

export interface GatewayServices {
  prisma: PrismaClient;
  commands: CommandGateway;
  watcher: ProjectionWatcher;
  /** The projectors (their `projection_offsets` names) that must apply a physical topic's message before queries see it. */
  projectorsOf(topic: string): string[];
  /** How long mutations wait for their outcome, in ms. */
  commandTimeoutMs: number;
}

/** A domain's part of the GraphQL API (services/<domain>/graphql/index.ts exports one as default). */
export interface GraphQLSlice {
  /** The domain's name: its per-operation context is `context[domain]`. */
  domain: string;
  /** Its SDL (services/<domain>/graphql/schema.graphql), composed into the root schema.graphql. */
  typeDefs: string;
  resolvers: Record<string, unknown>;
  /** Logical topics whose messages its live feeds follow (the gateway's own consumer reads them). */
  follows: readonly string[];
  /** Operations the playground opens with. */
  examples: readonly { query: string; variables?: string }[];
  /** Starts the slice in one gateway. */
  start(services: GatewayServices, log: Logger): StartedSlice;
}

export interface StartedSlice {
  /** The slice's part of a new operation's context: DataLoaders are fresh per operation. */
  context(): unknown;
  /** A message of a followed topic, read by the gateway's consumer, with where it is in the log. */
  onMessage(topic: string, message: { key: Buffer | null; value: Buffer | null }, position: LogPosition): void;
  close(): void;
}

/** Who runs the operation: the verified bearer token's user, or undefined for anonymous. */
export interface ViewerContext {
  viewer: Viewer | undefined;
}

/** What every resolver receives: the services, the viewer, and each slice's context under its domain's name. */
export type GatewayContext = GatewayServices & ViewerContext & Record<string, unknown>;
