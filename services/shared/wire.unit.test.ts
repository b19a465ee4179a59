import { describe, expect, it } from 'vitest';
import { SystemError } from './errors.ts';
import type { RegisteredSchema, SchemaRegistry } from './schemas.ts';
import { createSchemaIds, frame, jsonOf } from './wire.ts';

/** A registry holding schema ids 1 (JSON) and 2 (Avro), and subject `t-value` at id 1; it counts the lookups it answers. */
function fakeRegistry(answers = true) {
  const byId = new Map<number, RegisteredSchema>([[1, { schemaType: 'JSON', schema: '{}' }], [2, { schemaType: 'AVRO', schema: '"string"' }]]);
  const lookups: number[] = [];
  const registry = {
    url: 'http://registry.test',
    async schemaById(id: number) {
      if (!answers) throw new Error('connection refused');
      lookups.push(id);
      return byId.get(id);
    },
    async latest(subject: string) {
      return subject === 't-value' ? { version: 3, id: 1, schema: {} } : undefined;
    },
  } as unknown as SchemaRegistry;
  return { registry, lookups, heal: () => (answers = true) };
}

const codeOf = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    return error instanceof SystemError ? `${error.code}: ${error.message}` : `Error: ${(error as Error).message}`;
  }
  return 'no error';
};

describe('the wire format', () => {
  it('frames a payload as magic byte 0, the schema id big-endian, then the payload', () => {
    expect([...frame(258, '{}')]).toEqual([0, 0, 0, 1, 2, 0x7b, 0x7d]);
  });

  it('reads back a framed value once its id is learned, looking each id up once', async () => {
    const { registry, lookups } = fakeRegistry();
    const ids = createSchemaIds(registry);
    const values = [frame(1, '{"a":1}'), frame(1, '{"a":2}'), null];
    await ids.learn(values);
    await ids.learn(values);
    expect(lookups).toEqual([1]);
    expect(jsonOf(ids, values[1])).toEqual({ a: 2 });
    expect(ids.unframe(values[0])).toMatchObject({ id: 1, schema: { schemaType: 'JSON' } });
  });

  it('refuses, as INVALID_MESSAGE, a value without the magic byte, a short one and one naming an id the registry lacks', async () => {
    const ids = createSchemaIds(fakeRegistry().registry);
    const values = [Buffer.from('{"a":1}'), Buffer.from([0, 0, 1]), frame(77, '{}'), frame(2, '{}'), frame(1, 'not json')];
    await ids.learn(values);
    expect(codeOf(() => ids.unframe(values[0]))).toBe('INVALID_MESSAGE: message value starts with byte 123, not the wire format\'s magic byte 0 (written without the schema registry?)');
    expect(codeOf(() => ids.unframe(values[1]))).toMatch(/^INVALID_MESSAGE: message value has 3 byte/);
    expect(codeOf(() => ids.unframe(values[2]))).toBe('INVALID_MESSAGE: message value names schema id 77, which the schema registry at http://registry.test does not have');
    expect(codeOf(() => jsonOf(ids, values[3]))).toMatch(/^INVALID_MESSAGE: .*schema id 2, a AVRO schema/);
    expect(codeOf(() => jsonOf(ids, values[4]))).toBe('INVALID_MESSAGE: message value (schema id 1) is not JSON');
    expect(codeOf(() => ids.unframe(null))).toBe('INVALID_MESSAGE: message has no value');
  });

  it('says a value was decoded before its id was learned (a bug, not bad data)', () => {
    const ids = createSchemaIds(fakeRegistry().registry);
    expect(codeOf(() => ids.unframe(frame(1, '{}')))).toMatch(/^Error: schema id 1 was not looked up/);
  });

  it('fails learning as retriable UNAVAILABLE while the registry does not answer, and asks again later', async () => {
    const fake = fakeRegistry(false);
    const ids = createSchemaIds(fake.registry);
    const error = await ids.learn([frame(1, '{}')]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'UNAVAILABLE', retriable: true });
    fake.heal();
    await ids.learn([frame(1, '{}')]);
    expect(fake.lookups).toEqual([1]);
  });

  it('tags a subject with its latest id, and tells to run set-up when the subject has none', async () => {
    const ids = createSchemaIds(fakeRegistry().registry);
    expect(await ids.writerId('t-value')).toBe(1);
    await expect(ids.writerId('u-value')).rejects.toThrow(/no schema for u-value: run `npm run setup`/);
  });
});
