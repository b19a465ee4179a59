/**
 * The decoder on real Debezium messages (fixtures/debezium-movies.json, captured by scripts/capture-movies-fixture.ts
 * from the connector configured by infra/connect/connect.ts: Avro values in the wire format; snapshot, insert,
 * update, delete, tombstone) and on what must be refused. No registry: the captured schema is remembered under its id.
 */
import { describe, expect, it } from 'vitest';
import { avroType, avroValue } from '../shared/avro.ts';
import { SystemError } from '../shared/errors.ts';
import type { SchemaRegistry } from '../shared/schemas.ts';
import { createSchemaIds, frame } from '../shared/wire.ts';
import { CATALOG_BOUNDS, decodeMovieChange, MAX_CHANGE_BYTES, readMovieChange } from './catalog-change.ts';
import { CAPTURED_SCHEMA, capturedMessage, capturedRecord, changeType, type CapturedMessage } from './fixtures/debezium.ts';

/** A registry that has no schema but those remembered: a unit test never reaches one. */
const registry = { url: 'http://registry.invalid', schemaById: async () => undefined } as unknown as SchemaRegistry;
const ids = createSchemaIds(registry);
ids.remember(CAPTURED_SCHEMA.id, { schemaType: CAPTURED_SCHEMA.schemaType, schema: CAPTURED_SCHEMA.schema });

const message = capturedMessage;
const decode = (m: { key: string | null; value: Buffer | null }) => decodeMovieChange(m.key === null ? null : Buffer.from(m.key), m.value, ids);
/** A real message's record with some fields changed, encoded again in the same schema. */
const edited = (name: string, edit: (event: any) => void): CapturedMessage => {
  const event = capturedRecord(name);
  edit(event);
  return { key: message(name).key, value: avroValue(CAPTURED_SCHEMA.id, changeType, event) };
};
const row = (name: string) => capturedRecord(name).after;

describe('decodeMovieChange on real Debezium messages', () => {
  it('a snapshot row (op r) is an upsert from after', () => {
    expect(decode(message('snapshotLethalWeapon'))).toEqual({
      type: 'MovieUpserted',
      movie: { movieId: '362', title: 'Lethal Weapon', releaseYear: 1987, country: 'US', genres: ['Action', 'Crime'] },
    });
    // The snapshot's first and last rows carry snapshot "first" / "last" in source; same shape.
    expect(decode(message('snapshotFirst'))).toMatchObject({ type: 'MovieUpserted', movie: { movieId: '1', genres: ['Horror', 'Thriller', 'Crime'] } });
    expect(decode(message('snapshotLast'))).toMatchObject({ type: 'MovieUpserted', movie: { movieId: '1200' } });
  });

  it('an insert (op c) keeps the genres array in order, a genre with a space included', () => {
    expect(decode(message('insert'))).toEqual({
      type: 'MovieUpserted',
      movie: { movieId: '900001', title: 'Lethal Weapon 2', releaseYear: 1989, country: 'US', genres: ['Action', 'Crime', 'Buddy Cop'] },
    });
  });

  it('an update (op u) is an upsert with the new title', () => {
    // The capture table's REPLICA IDENTITY is DEFAULT: an update carries no old row, which nothing here needs.
    expect(capturedRecord('updateTitle').before).toBeNull();
    expect(decode(message('updateTitle'))).toEqual({
      type: 'MovieUpserted',
      movie: { movieId: '900001', title: 'Lethal Weapon II', releaseYear: 1989, country: 'US', genres: ['Action', 'Crime', 'Buddy Cop'] },
    });
  });

  it('null year and country, no genres, non-ASCII title', () => {
    expect(decode(message('insertNullYearCountryNoGenres'))).toEqual({
      type: 'MovieUpserted',
      movie: { movieId: '900002', title: 'Untitled Émigré Project — 「試写」', releaseYear: null, country: null, genres: [] },
    });
  });

  it('a delete (op d) is a removal; the tombstone after it is nothing', () => {
    // Only the key of `before` is real (Debezium fills the other columns with empties); only its id is read.
    expect(capturedRecord('delete').before).toMatchObject({ id: 900001n, title: '' });
    expect(decode(message('delete'))).toEqual({ type: 'MovieRemoved', movieId: '900001' });
    expect(message('tombstone')).toEqual({ key: '900001', value: null });
    expect(decode(message('tombstone'))).toBeUndefined();
  });

  it('reads ids beyond 2^53 exactly, from the key and from the value (an Avro long, read as a bigint)', () => {
    expect(row('insertBeyondSafeInteger').id).toBe(9007199254740993n);
    expect(decode(message('insertBeyondSafeInteger'))).toMatchObject({ type: 'MovieUpserted', movie: { movieId: '9007199254740993' } });
    expect(decode({ key: null, value: message('insertBeyondSafeInteger').value })).toMatchObject({ movie: { movieId: '9007199254740993' } });
  });

  it('gives the same change re-sent the same identity: only the send-time stamps differ', () => {
    const first = readMovieChange(Buffer.from('900001'), message('insert').value, ids)!;
    const resent = readMovieChange(Buffer.from('900001'), edited('insert', (e) => { e.ts_ms += 1000n; e.ts_us = null; e.ts_ns = 1n; }).value, ids)!;
    expect(resent.identity).toBe(first.identity);
    const other = readMovieChange(Buffer.from('900001'), message('updateTitle').value, ids)!;
    expect(other.identity).not.toBe(first.identity);
  });

  it('a delete without a key takes the id from before', () => {
    expect(decode({ key: null, value: message('delete').value })).toEqual({ type: 'MovieRemoved', movieId: '900001' });
    expect(decode({ key: null, value: null })).toBeUndefined();
  });
});

describe('decodeMovieChange keeps a movie within CATALOG_BOUNDS, and says what was cut', () => {
  const { titleChars, countryChars, genres: maxGenres, genreChars } = CATALOG_BOUNDS;

  it('a row the capture table cut at the source arrives with its `reduced` notes, and is not cut again', () => {
    const change = decode(message('insertReduced'));
    expect(change).toMatchObject({
      type: 'MovieUpserted',
      movie: { movieId: '900003', reduced: [`title: 5000 characters, kept ${titleChars}`, `genres: 25, kept ${maxGenres}`] },
    });
    const movie = change?.type === 'MovieUpserted' ? change.movie : undefined;
    expect(movie?.title).toBe('Long '.repeat(1000).slice(0, titleChars));
    expect(movie?.genres).toEqual(Array.from({ length: maxGenres }, (_, i) => `Genre ${i + 1}`));
  });

  it('a row within the bounds has no `reduced`', () => {
    expect(decode(message('insert'))).not.toHaveProperty('movie.reduced');
  });

  it('bounds a row a connector on the raw table sent: 100,000 genres become 20, long text is cut, each cut named', () => {
    const change = decode(edited('insert', (e) => {
      e.after.reduced = null;
      e.after.title = 'T'.repeat(titleChars + 5);
      e.after.country = 'C'.repeat(countryChars + 1);
      e.after.genres = ['G'.repeat(genreChars * 3), ...Array.from({ length: 100_000 }, (_, i) => String(i))]; // ~590 KB
    }));
    const movie = change?.type === 'MovieUpserted' ? change.movie : undefined;
    expect(movie?.title).toHaveLength(titleChars);
    expect(movie?.country).toHaveLength(countryChars);
    expect(movie?.genres).toHaveLength(maxGenres);
    expect(movie?.genres[0]).toBe('G'.repeat(genreChars));
    expect(movie?.genres[1]).toBe('0');
    expect(movie?.reduced).toEqual([
      `title: ${titleChars + 5} characters, kept ${titleChars} (by the decoder)`,
      `country: ${countryChars + 1} characters, kept ${countryChars} (by the decoder)`,
      `genres: 100001, kept ${maxGenres} (by the decoder)`,
      `genre characters: the longest ${genreChars * 3}, kept ${genreChars} (by the decoder)`,
    ]);
  });

  it('counts characters as PostgreSQL does: a character outside the BMP is one, and is never split', () => {
    const title = '😀'.repeat(titleChars + 1); // 2 UTF-16 units each
    const change = decode(edited('insert', (e) => (e.after.title = title)));
    const movie = change?.type === 'MovieUpserted' ? change.movie : undefined;
    expect(movie?.title).toBe('😀'.repeat(titleChars));
    expect(movie?.reduced).toEqual([`title: ${titleChars + 1} characters, kept ${titleChars} (by the decoder)`]);
    // Exactly at the bound in characters (twice that in UTF-16 units): kept whole.
    expect(decode(edited('insert', (e) => (e.after.title = '😀'.repeat(titleChars))))).not.toHaveProperty('movie.reduced');
  });

});

/** What decoding `m` throws, which must be INVALID_MESSAGE (the runtime dead-letters it and carries on). */
function refusal(m: CapturedMessage, using = ids): SystemError {
  try {
    decodeMovieChange(m.key === null ? null : Buffer.from(m.key), m.value, using);
  } catch (error) {
    expect(error).toBeInstanceOf(SystemError);
    expect((error as SystemError).code).toBe('INVALID_MESSAGE');
    return error as SystemError;
  }
  throw new Error('expected the message to be refused');
}

describe('decodeMovieChange refuses malformed input with a clear message', () => {
  const refuses = (m: CapturedMessage, reason: RegExp) => expect(refusal(m).message).toMatch(reason);

  it('a value without the wire format: JSON as the JsonConverter wrote it, or too short', () => {
    refuses({ key: '1', value: Buffer.from('{"before":null,"after":{"id":1},"op":"r"}') }, /starts with byte 123, not the wire format's magic byte 0/);
    refuses({ key: '1', value: Buffer.from([0, 0]) }, /fewer than the wire format's 5-byte header/);
  });

  it('a schema id the registry does not have', async () => {
    const value = frame(2_000_000_000, message('insert').value!.subarray(5));
    await ids.learn([value]);
    refuses({ key: '900001', value }, /names schema id 2000000000, which the schema registry at http:\/\/registry\.invalid does not have/);
  });

  it('a schema that is not Avro, a schema avsc cannot read, and bytes that are not a record of the schema', () => {
    ids.remember(7_000_002, { schemaType: 'JSON', schema: '{}' });
    refuses({ key: '1', value: frame(7_000_002, '{"op":"r"}') }, /schema id 7000002, a JSON schema: this topic carries Avro/);
    ids.remember(7_000_003, { schemaType: 'AVRO', schema: '{"type":"nonsense"}' });
    refuses({ key: '1', value: frame(7_000_003, Buffer.from([2])) }, /schema id 7000003 is not a schema avsc can read/);
    refuses({ key: '900001', value: frame(CAPTURED_SCHEMA.id, Buffer.from('{"op":"r"}')) }, /not an Avro record of schema id \d+/);
    // Cut short, and with bytes left over.
    const insert = message('insert').value!;
    refuses({ key: '900001', value: insert.subarray(0, insert.length - 3) }, /not an Avro record of schema id \d+ \(truncated buffer\)/);
    refuses({ key: '900001', value: Buffer.concat([insert, Buffer.from([0])]) }, /not an Avro record of schema id \d+ \(trailing data\)/);
  });

  it('a huge value, before reading it', () => {
    const huge = Buffer.alloc(MAX_CHANGE_BYTES + 1, 0);
    expect(refusal({ key: '1', value: huge }).message).toMatch(/too large: 1048577 bytes/);
  });

  it('an unknown op, such as a truncate', () => {
    refuses(edited('insert', (e) => (e.op = 't')), /op "t"; expected r, c, u or d/);
  });

  it('a record of another schema: not a Debezium change of the movies table', () => {
    ids.remember(7_000_004, { schemaType: 'AVRO', schema: JSON.stringify({ type: 'record', name: 'Other', fields: [{ name: 'op', type: 'string' }, { name: 'after', type: 'string' }] }) });
    refuses({ key: '1', value: frame(7_000_004, Buffer.from([2, 0x72, 2, 0x78])) }, /after \(op r\) is not a row: string/);
    ids.remember(7_000_005, { schemaType: 'AVRO', schema: '"string"' });
    refuses({ key: '1', value: frame(7_000_005, Buffer.from([2, 0x72])) }, /schema id 7000005\) is not an Avro record/);
  });

  it('a key that is not the id alone', () => {
    refuses({ key: '{"id":900001}', value: message('insert').value }, /key is not a movie id.*transforms\.key/);
    refuses({ key: '01', value: message('insert').value }, /key is not a movie id/);
  });

  it('a key and a value that name different movies', () => {
    refuses({ key: '362', value: message('insert').value }, /key 362 and value id 900001 disagree/);
  });

  it('rows with the wrong shape', () => {
    refuses(edited('insert', (e) => (e.after = null)), /after \(op c\) is not a row: null/);
    refuses({ key: null, value: edited('delete', (e) => (e.before = null)).value }, /neither a key nor before\.id/);
  });

  it('refuses `reduced` that is not a list of text, in a schema that allows it', () => {
    const schema = JSON.parse(CAPTURED_SCHEMA.schema);
    const value = schema.fields.find((f: { name: string }) => f.name === 'before').type[1];
    value.fields.find((f: { name: string }) => f.name === 'reduced').type = ['null', 'string'];
    ids.remember(7_000_006, { schemaType: 'AVRO', schema: JSON.stringify(schema) });
    const event = capturedRecord('insert');
    event.after.reduced = 'title';
    const type = avroType(JSON.stringify(schema));
    refuses({ key: '900001', value: avroValue(7_000_006, type, event) }, /reduced is not a list of text or null/);
  });

  it('drops NULL elements of a genres array (the API has no null genre)', () => {
    expect(decode(edited('insert', (e) => (e.after.genres = ['Action', null])))).toMatchObject({ movie: { genres: ['Action'] } });
  });
});
