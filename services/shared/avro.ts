/**
 * Avro values in the wire format (wire.ts), for topics written by others through a registry converter (Debezium's
 * `movies`, services/ratings/catalog-change.ts). A value is read with its writer's schema, named by its id: the
 * parsed schema is kept per registered schema, so steady state parses nothing.
 *
 * Avro's `long` is read as a `bigint`: JavaScript's number is exact only to 2^53, and Debezium's longs go beyond it
 * (nanosecond timestamps; a bigint primary key may).
 */
import avro from 'avsc';
import { SystemError } from './errors.ts';
import type { RegisteredSchema } from './schemas.ts';
import { frame, type SchemaIds } from './wire.ts';

/** Avro's long as a bigint, both ways: 8 bytes little endian are what avsc hands a custom long type. */
const BigIntLong = avro.types.LongType.__with({
  fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(),
  toBuffer: (value: bigint) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(value);
    return buffer;
  },
  fromJSON: (value: unknown) => BigInt(value as string | number),
  toJSON: (value: bigint) => Number(value),
  isValid: (value: unknown) => typeof value === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/**
 * A schema's text as an avsc type. Unions of null and one type (Debezium's optional fields) read as the value or
 * null, unwrapped; a union that would be ambiguous unwrapped stays wrapped (`{ "<type>": value }`).
 */
export function avroType(schema: string): avro.Type {
  return avro.Type.forSchema(JSON.parse(schema) as avro.Schema, { registry: { long: BigIntLong }, wrapUnions: 'auto' });
}

/** Parsed types per registered schema (one object per id in SchemaIds), forgotten with it. */
const types = new WeakMap<RegisteredSchema, avro.Type>();

function typeOf(id: number, schema: RegisteredSchema): avro.Type {
  let type = types.get(schema);
  if (!type) {
    try {
      type = avroType(schema.schema);
    } catch (error) {
      throw new SystemError('INVALID_MESSAGE', `schema id ${id} is not a schema avsc can read (${(error as Error).message})`);
    }
    types.set(schema, type);
  }
  return type;
}

/** An Avro topic's message value, decoded with its writer's schema; throws INVALID_MESSAGE naming what is wrong with it. */
export function avroOf(ids: SchemaIds, value: Buffer | null): { id: number; record: unknown } {
  const { id, schema, payload } = ids.unframe(value);
  if (schema.schemaType !== 'AVRO') {
    throw new SystemError('INVALID_MESSAGE', `message value was written with schema id ${id}, a ${schema.schemaType} schema: this topic carries Avro`);
  }
  const type = typeOf(id, schema);
  try {
    // Throws on a payload cut short and on bytes left over: either way not a record of this schema.
    return { id, record: type.fromBuffer(payload) };
  } catch (error) {
    throw new SystemError('INVALID_MESSAGE', `message value is not an Avro record of schema id ${id} (${(error as Error).message})`);
  }
}

/** A record framed as a registry converter writes it: for tests, tools and benches that stand in for one. */
export function avroValue(id: number, type: avro.Type, record: unknown): Buffer {
  return frame(id, type.toBuffer(record));
}
