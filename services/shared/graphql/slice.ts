/**
 * What the gateway gives every domain's GraphQL slice: the read side (Prisma), the write side (commands with
 * read-your-writes), and projection progress. A slice adds its own per-operation context (DataLoaders, live
 * feeds) under its domain's name. The gateway implements the services (gateway/commands.ts, gateway/progress.ts);
 * their interfaces live here so a slice needs nothing from gateway/.
 */
import type { PrismaClient } from '../db.ts';
import type { Logger } from '../log.ts';
import type { CommandReply, LogPosition, Outgoing } from '../messages.ts';
import type { Viewer } from './access.ts';

export interface CommandGateway {
  /**
   * Resolves with the reply once the command's events are projected (or, with `visible: false`, once the
   * command is accepted: for high-rate writes whose answer needs no read, such as positions); throws its
   * rejection or TIMEOUT.
   */
  execute(command: Outgoing, timeoutMs: number, options?: { visible?: boolean }): Promise<CommandReply>;
  /**
   * Publishes facts no service answers (such as the positions drivers report), resolving once Kafka has every one of
   * them (acks=all); UNAVAILABLE (retriable) when Kafka refuses them or does not answer within `timeoutMs`.
   */
  publish(messages: readonly Outgoing[], timeoutMs: number): Promise<void>;
  /** Fed by the gateway's consumer with every reply on `command.replies`. */
  onReply(reply: CommandReply): void;
}

/** How far each projector has applied each topic partition (gateway/progress.ts keeps it, from the projectors' notifications). */
export interface ProjectionWatcher {
  /** Resolves once every named projector has applied the message at `position`; rejects after `timeoutMs`. */
  reached(projectors: string[], position: LogPosition, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface GatewayServices {
  prisma: PrismaClient;
  commands: CommandGateway;
  watcher: ProjectionWatcher;
  /** The projectors (their `projection_offsets` names) that must apply a physical topic's message before queries see it. */
  projectorsOf(topic: string): string[];
  /**
   * Where each partition of these logical topics ends now: the position of its last message (none for an empty
   * partition). Once the projectors reach it, they hold everything written before the call, which this gateway's
   * own consumer may never have seen (it starts at the end of the log).
   */
  logEnd(topics: readonly string[]): Promise<LogPosition[]>;
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
