/**
 * Every topic's JSON Schema in the schema registry, from the contracts (subject `<prefix><topic>-value`). Events and
 * tables are BACKWARD_TRANSITIVE (a reader reads every message ever written), commands BACKWARD (read soon after).
 * Set-up registers them; a process refuses to start on an incompatible contract.
 */
import { z } from 'zod';
import { schemaRegistryUrl } from './config.ts';
import { commandReplySchema, RUNTIME_TOPICS, type AnyContract, type MessageSpec } from './messages.ts';

export type Compatibility = 'BACKWARD' | 'BACKWARD_TRANSITIVE';

export interface TopicSchema {
  /** The topic's subject, under the topic prefix. */
  subject: string;
  compatibility: Compatibility;
  schema: JsonSchema;
}

interface JsonSchema {
  [key: string]: unknown;
}

/** The subject of a topic's message values (TopicNameStrategy). */
export const subjectOf = (prefix: string, topic: string): string => `${prefix}${topic}-value`;

/**
 * The schemas of every topic the contracts write, and of the runtime's `command.replies`. A topic written by something
 * else (Debezium's) has its writer's schemas; `dead.letters` carries other topics' messages as they were read.
 */
export function topicSchemas(contracts: readonly AnyContract[], prefix: string): TopicSchema[] {
  const replies: TopicSchema = {
    subject: subjectOf(prefix, RUNTIME_TOPICS.commandReplies),
    compatibility: 'BACKWARD',
    schema: { $schema: JSON_SCHEMA_DRAFT, title: RUNTIME_TOPICS.commandReplies, ...closed(jsonSchemaOf(commandReplySchema)) },
  };
  return [...domainSchemas(contracts, prefix), replies];
}

function domainSchemas(contracts: readonly AnyContract[], prefix: string): TopicSchema[] {
  return contracts.flatMap((contract) =>
    Object.entries(contract.topics)
      .filter(([, spec]) => !spec.external)
      .flatMap(([topic, spec]) => {
        const commands = messagesOn(contract.commands, topic).map(([type, message]) => envelopeSchema('command', type, message));
        const events = messagesOn(contract.events, topic).map(([type, message]) => envelopeSchema('event', type, message));
        if (!commands.length && !events.length) return [];
        const compatibility: Compatibility = events.length || spec.compacted ? 'BACKWARD_TRANSITIVE' : 'BACKWARD';
        return [{ subject: subjectOf(prefix, topic), compatibility, schema: { $schema: JSON_SCHEMA_DRAFT, title: topic, type: 'object', oneOf: [...commands, ...events] } }];
      }),
  );
}

/** Draft 7: the newest dialect the registry's compatibility checker reads (it cannot place 2020-12). */
const JSON_SCHEMA_DRAFT = 'http://json-schema.org/draft-07/schema#';

/** The messages written to `topic`, under their names and any former one (the log still holds those). */
const messagesOn = (specs: Record<string, MessageSpec>, topic: string): [string, MessageSpec][] =>
  Object.entries(specs).filter(([, spec]) => spec.topic === topic).flatMap(([name, spec]) => [name, ...(spec.formerly ?? [])].map((type): [string, MessageSpec] => [type, spec]));

/** What a zod schema accepts (its input: a field with a default may be left out), as a draft-7 JSON Schema without `$schema`. */
function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** One message type's envelope, as the contract's validation writes it: closed (no other field), its `data` too. */
function envelopeSchema(kind: 'command' | 'event', type: string, message: MessageSpec): JsonSchema {
  const data = jsonSchemaOf(message.schema);
  const text = { type: 'string', minLength: 1 };
  const ids = kind === 'command' ? { commandId: text } : { eventId: text, correlationId: text, causationId: text, producer: text };
  const actor = { type: 'object', properties: { sub: text, roles: { type: 'array', items: text } }, required: ['sub', 'roles'] };
  return closed({
    title: type,
    type: 'object',
    properties: {
      kind: { const: kind },
      type: { const: type },
      ...ids,
      schemaVersion: { type: 'integer', minimum: 1 },
      aggregateId: text,
      occurredAt: { type: 'string', format: 'date-time' },
      actor,
      data,
    },
    required: ['kind', 'type', ...Object.keys(ids).filter((id) => id !== 'producer'), 'schemaVersion', 'aggregateId', 'occurredAt', 'data'],
  });
}

/**
 * Every object declared closed (zod drops unknown fields): then an added optional field keeps old messages readable,
 * where open an old message might have carried that field with another type.
 */
function closed(schema: JsonSchema): JsonSchema {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return node;
    const copy = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value)]));
    if (copy.type === 'object' && copy.properties && copy.additionalProperties === undefined) copy.additionalProperties = false;
    return copy;
  };
  return walk(schema) as JsonSchema;
}

/** What the registry says of one subject, for `npm run schemas`. */
export interface SubjectState {
  subject: string;
  versions: number[];
  compatibility: string | undefined;
}

/** A schema as the registry holds it, under some id: JSON Schema (the contracts') or Avro (Debezium's, via its converter). */
export interface RegisteredSchema {
  schemaType: 'JSON' | 'AVRO' | 'PROTOBUF';
  /** The schema's text. */
  schema: string;
}

/** The registry's Confluent-compatible API (Apicurio's `/apis/ccompat/v7`, or Confluent's own). */
export interface SchemaRegistry {
  url: string;
  subjects(): Promise<string[]>;
  state(subject: string): Promise<SubjectState>;
  /** The latest registered schema of a subject, or undefined when it has none. */
  latest(subject: string): Promise<{ version: number; id: number; schema: JsonSchema } | undefined>;
  /** The schema registered under an id, or undefined when the registry has no such id. */
  schemaById(id: number): Promise<RegisteredSchema | undefined>;
  /** Whether `schema` may be registered next, under the subject's compatibility rule. */
  isCompatible(subject: string, schema: JsonSchema): Promise<boolean>;
  /** Sets the subject's rule and registers `schema` (once: the same schema again keeps its id); answers its id. */
  register(topic: TopicSchema): Promise<number>;
  /** Registers a schema of any type under a subject, as another writer's converter would (tests and tools standing in for Debezium); answers its id. */
  registerSchema(subject: string, schema: RegisteredSchema): Promise<number>;
  /** Deletes, for good, every subject under a topic prefix (a test's or a chaos run's, removed with its topics). */
  deleteSubjects(prefix: string): Promise<void>;
}

export function createSchemaRegistry(url = schemaRegistryUrl()): SchemaRegistry {
  async function call<T>(method: string, path: string, body?: unknown, missing?: T): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${url}${path}`, {
        method,
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      throw new Error(`the schema registry at ${url} does not answer (${(error as Error).message}): start it with \`npm run registry\`, or set SCHEMA_REGISTRY_URL`);
    }
    if (response.status === 404 && missing !== undefined) return missing;
    const text = await response.text();
    if (!response.ok) throw Object.assign(new Error(`${method} ${path}: ${response.status} ${registryMessage(text)}`), { status: response.status });
    return JSON.parse(text) as T;
  }
  const encoded = (subject: string) => encodeURIComponent(subject);
  return {
    url,
    subjects: () => call<string[]>('GET', '/subjects'),
    async state(subject) {
      const versions = await call<number[]>('GET', `/subjects/${encoded(subject)}/versions`, undefined, []);
      const config = await call<{ compatibilityLevel?: string; compatibility?: string }>('GET', `/config/${encoded(subject)}`, undefined, {});
      return { subject, versions, compatibility: config.compatibilityLevel ?? config.compatibility };
    },
    async latest(subject) {
      const found = await call<{ version: number; id: number; schema: string } | null>('GET', `/subjects/${encoded(subject)}/versions/latest`, undefined, null);
      return found ? { version: found.version, id: found.id, schema: JSON.parse(found.schema) as JsonSchema } : undefined;
    },
    async schemaById(id) {
      const found = await call<{ schema: string; schemaType?: RegisteredSchema['schemaType'] } | null>('GET', `/schemas/ids/${id}`, undefined, null);
      // Confluent's API leaves schemaType out for Avro, its first format.
      return found ? { schemaType: found.schemaType ?? 'AVRO', schema: found.schema } : undefined;
    },
    async isCompatible(subject, schema) {
      const answer = await call<{ is_compatible: boolean } | null>(
        'POST', `/compatibility/subjects/${encoded(subject)}/versions/latest`, { schemaType: 'JSON', schema: JSON.stringify(schema) }, null,
      );
      return answer?.is_compatible ?? true; // no version yet: anything may be the first
    },
    async register({ subject, compatibility, schema }) {
      await call('PUT', `/config/${encoded(subject)}`, { compatibility });
      return (await call<{ id: number }>('POST', `/subjects/${encoded(subject)}/versions`, { schemaType: 'JSON', schema: JSON.stringify(schema) })).id;
    },
    async registerSchema(subject, { schemaType, schema }) {
      return (await call<{ id: number }>('POST', `/subjects/${encoded(subject)}/versions`, { schemaType, schema })).id;
    },
    async deleteSubjects(prefix) {
      if (!prefix) throw new Error('refusing to delete every subject: give a topic prefix');
      for (const subject of (await call<string[]>('GET', '/subjects')).filter((s) => s.startsWith(prefix))) {
        // Soft first, as the API requires, then for good.
        await call('DELETE', `/subjects/${encoded(subject)}`, undefined, null);
        await call('DELETE', `/subjects/${encoded(subject)}?permanent=true`, undefined, null);
      }
    },
  };
}

/** The registry's own sentence from an error body, without the Java exception's class name. */
function registryMessage(body: string): string {
  try {
    const { message } = JSON.parse(body) as { message?: string };
    return (message ?? body).replace(/^[\w.]+Exception: /, '');
  } catch {
    return body;
  }
}

/** The contracts' topics the registry would refuse, each naming the subject, what changed and the rule. */
export async function incompatibleSchemas(registry: SchemaRegistry, topics: TopicSchema[]): Promise<string[]> {
  const problems: string[] = [];
  for (const topic of topics) {
    if (await registry.isCompatible(topic.subject, topic.schema)) continue;
    const latest = await registry.latest(topic.subject);
    const changes = latest ? breakingChanges(latest.schema, topic.schema) : [];
    problems.push(
      `${topic.subject}: ${changes.join('; ') || 'the schema changed in a way the registry refuses'}, which breaks ${topic.compatibility} ` +
      `against version ${latest?.version ?? '?'} (every message already written must stay readable): give a new field a default or make it optional, and keep the old ones`,
    );
  }
  return problems;
}

/** Registers every topic's schema; throws, naming every refused subject and why, before registering any. */
export async function registerSchemas(registry: SchemaRegistry, topics: TopicSchema[]): Promise<string[]> {
  const problems = await incompatibleSchemas(registry, topics);
  if (problems.length) throw new Error(`the schema registry refuses these contracts:\n  ${problems.join('\n  ')}`);
  const registered: string[] = [];
  for (const topic of topics) {
    // Registering the latest schema again answers its id: a new version is a new id.
    const before = await registry.latest(topic.subject);
    if ((await registry.register(topic)) !== before?.id) registered.push(topic.subject);
  }
  return registered;
}

/** What makes `next` unable to read what `previous` allowed: a field now required or retyped, a message type gone. */
export function breakingChanges(previous: JsonSchema, next: JsonSchema): string[] {
  const byType = (schema: JsonSchema) =>
    new Map(((schema.oneOf ?? []) as JsonSchema[]).map((message) => [String(message.title), message]));
  const before = byType(previous);
  const after = byType(next);
  const changes: string[] = [];
  for (const [type, old] of before) {
    const now = after.get(type);
    if (!now) {
      changes.push(`${type} is gone`);
      continue;
    }
    changes.push(...fieldChanges(`${type}'s data`, dataOf(old), dataOf(now)));
  }
  return changes;
}

const dataOf = (message: JsonSchema) => ((message.properties ?? {}) as Record<string, JsonSchema>).data ?? {};

function fieldChanges(where: string, old: JsonSchema, now: JsonSchema): string[] {
  const oldFields = (old.properties ?? {}) as Record<string, JsonSchema>;
  const newFields = (now.properties ?? {}) as Record<string, JsonSchema>;
  const wasRequired = new Set((old.required ?? []) as string[]);
  const changes: string[] = [];
  for (const field of (now.required ?? []) as string[]) {
    if (!wasRequired.has(field)) changes.push(`${where}.${field} became required (rule: a new field needs a default)`);
  }
  for (const field of Object.keys(oldFields)) {
    if (!(field in newFields)) changes.push(`${where}.${field} is gone (rule: a field written before stays declared)`);
  }
  for (const [field, schema] of Object.entries(newFields)) {
    const before = oldFields[field];
    if (before && before.type !== undefined && schema.type !== undefined && JSON.stringify(before.type) !== JSON.stringify(schema.type)) {
      changes.push(`${where}.${field} changed type from ${JSON.stringify(before.type)} to ${JSON.stringify(schema.type)} (rule: a field keeps its type)`);
    } else if (before && before.type === 'object') {
      changes.push(...fieldChanges(`${where}.${field}`, before, schema));
    }
  }
  return changes;
}
