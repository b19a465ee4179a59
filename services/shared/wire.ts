/**
 * The Confluent wire format, on every topic: magic byte 0, the writer's schema id in the registry (4 bytes, big
 * endian), then the payload. Ids are looked up once per process and cached (a registry's ids never change meaning):
 * consumers learn a batch's ids before decoding it, so steady state makes no registry call.
 *
 * A writer tags its messages with its subject's latest id (Confluent's use.latest.version): set-up registers every
 * contract, and a process whose contract the latest could not follow refuses to start, so that is its own schema.
 */
import { SystemError } from './errors.ts';
import { createSchemaRegistry, type RegisteredSchema, type SchemaRegistry } from './schemas.ts';

export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

/** A message's value, read: the schema it was written with, and what follows the header. */
export interface Unframed {
  id: number;
  schema: RegisteredSchema;
  payload: Buffer;
}

export function frame(id: number, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const framed = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  framed.writeUInt8(MAGIC_BYTE, 0);
  framed.writeUInt32BE(id, 1);
  body.copy(framed, HEADER_BYTES);
  return framed;
}

/** The schema id a value claims, or a reason it claims none. */
function idOf(value: Buffer): number | string {
  if (value.length < HEADER_BYTES) return `message value has ${value.length} byte(s), fewer than the wire format's 5-byte header`;
  if (value[0] !== MAGIC_BYTE) return `message value starts with byte ${value[0]}, not the wire format's magic byte 0 (written without the schema registry?)`;
  return value.readUInt32BE(1);
}

export interface SchemaIds {
  /** The id to tag a subject's messages with. */
  writerId(subject: string): Promise<number>;
  /** Looks up the ids of these values not seen before (once each), so that `unframe` can read them. */
  learn(values: Iterable<Buffer | null>): Promise<void>;
  /** Records what an id names, as a lookup would (a writer that registered a schema knows its id; a test frames with one). */
  remember(id: number, schema: RegisteredSchema): void;
  /** Reads a value's header; throws INVALID_MESSAGE when it has none or names an id the registry does not have. */
  unframe(value: Buffer | null): Unframed;
}

export function createSchemaIds(registry: SchemaRegistry = createSchemaRegistry()): SchemaIds {
  /** Per id, its schema, or undefined when the registry does not have it. */
  const schemas = new Map<number, RegisteredSchema | undefined>();
  const lookups = new Map<number, Promise<void>>();
  const writerIds = new Map<string, Promise<number>>();

  function lookUp(id: number): Promise<void> {
    let lookup = lookups.get(id);
    if (!lookup) {
      lookup = registry.schemaById(id).then(
        (schema) => void schemas.set(id, schema),
        (error: Error) => {
          lookups.delete(id); // the registry did not answer: asked again next time
          throw new SystemError('UNAVAILABLE', `looking up schema id ${id}: ${error.message}`, true);
        },
      );
      lookups.set(id, lookup);
    }
    return lookup;
  }

  return {
    writerId(subject) {
      let id = writerIds.get(subject);
      if (!id) {
        id = registry.latest(subject).then((latest) => {
          if (!latest) throw new SystemError('UNAVAILABLE', `the schema registry has no schema for ${subject}: run \`npm run setup\` (npm start does), which registers every contract`, true);
          schemas.set(latest.id, { schemaType: 'JSON', schema: JSON.stringify(latest.schema) });
          return latest.id;
        });
        id.catch(() => writerIds.delete(subject));
        writerIds.set(subject, id);
      }
      return id;
    },
    remember: (id, schema) => void schemas.set(id, schema),
    async learn(values) {
      const unseen = new Set<number>();
      for (const value of values) {
        const id = value && idOf(value);
        if (typeof id === 'number' && !schemas.has(id)) unseen.add(id);
      }
      if (unseen.size) await Promise.all([...unseen].map(lookUp));
    },
    unframe(value) {
      if (!value) throw new SystemError('INVALID_MESSAGE', 'message has no value');
      const id = idOf(value);
      if (typeof id === 'string') throw new SystemError('INVALID_MESSAGE', id);
      if (!schemas.has(id)) throw new Error(`schema id ${id} was not looked up before decoding: call learn() with the batch first`);
      const schema = schemas.get(id);
      if (!schema) throw new SystemError('INVALID_MESSAGE', `message value names schema id ${id}, which the schema registry at ${registry.url} does not have`);
      return { id, schema, payload: value.subarray(HEADER_BYTES) };
    },
  };
}

/** A JSON Schema topic's message value, parsed; throws INVALID_MESSAGE naming what is wrong with it. */
export function jsonOf(ids: SchemaIds, value: Buffer | null): unknown {
  const { id, schema, payload } = ids.unframe(value);
  if (schema.schemaType !== 'JSON') throw new SystemError('INVALID_MESSAGE', `message value was written with schema id ${id}, a ${schema.schemaType} schema: this topic carries JSON`);
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    throw new SystemError('INVALID_MESSAGE', `message value (schema id ${id}) is not JSON`);
  }
}

/** The process's schema ids, against SCHEMA_REGISTRY_URL: one cache for every bus and reader in it. */
let shared: SchemaIds | undefined;
export const schemaIds = (): SchemaIds => (shared ??= createSchemaIds());
