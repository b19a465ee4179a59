/**
 * The decoder on real Debezium messages (fixtures/debezium-movies.json, captured from the connector configured by
 * infra/connect/connect.ts: snapshot, insert, update, delete, tombstone) and on what must be refused.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeMovieChange, MAX_CHANGE_BYTES } from './catalog-change.ts';

type Captured = { key: string | null; value: string | null };
const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures/debezium-movies.json'), 'utf8')) as {
  messages: Record<string, Captured>;
};
const message = (name: string) => {
  const m = fixture.messages[name];
  if (!m) throw new Error(`no fixture message ${name}`);
  return m;
};
const decode = (m: Captured) => decodeMovieChange(m.key === null ? null : Buffer.from(m.key), m.value === null ? null : Buffer.from(m.value));
/** A real message's value with some fields changed. */
const edited = (name: string, edit: (event: any) => void): Captured => {
  const event = JSON.parse(message(name).value!);
  edit(event);
  return { key: message(name).key, value: JSON.stringify(event) };
};

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
    expect(JSON.parse(message('updateTitle').value!).before.title).toBe('Lethal Weapon 2');
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
    expect(decode(message('delete'))).toEqual({ type: 'MovieRemoved', movieId: '900001' });
    expect(message('tombstone')).toEqual({ key: '900001', value: null });
    expect(decode(message('tombstone'))).toBeUndefined();
  });

  it('takes the id from the key, exact beyond 2^53 (the value has it rounded)', () => {
    expect(decode(message('insertBeyondSafeInteger'))).toMatchObject({ type: 'MovieUpserted', movie: { movieId: '9007199254740993' } });
  });

  it('a delete without a key takes the id from before', () => {
    expect(decode({ key: null, value: message('delete').value })).toEqual({ type: 'MovieRemoved', movieId: '900001' });
    expect(decode({ key: null, value: null })).toBeUndefined();
  });
});

describe('decodeMovieChange refuses malformed input with a clear message', () => {
  const refuses = (m: Captured, reason: RegExp) => expect(() => decode(m)).toThrow(reason);

  it('a value that is not JSON, or not an object', () => {
    refuses({ key: '1', value: '\u0000\u00ff garbage {' }, /movie change value is not JSON/);
    refuses({ key: '1', value: '[1,2,3]' }, /not a JSON object/);
    refuses({ key: '1', value: '"r"' }, /not a JSON object/);
  });

  it('a huge value, before parsing it', () => {
    const huge = Buffer.alloc(MAX_CHANGE_BYTES + 1, 'x');
    expect(() => decodeMovieChange(Buffer.from('1'), huge)).toThrow(/too large: 1048577 bytes/);
    // Huge but under the limit, and garbage: refused as not JSON, and the message stays short.
    let error: Error | undefined;
    try {
      decodeMovieChange(Buffer.from('1'), Buffer.alloc(MAX_CHANGE_BYTES - 1, 0xfe));
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(/not JSON/);
    expect(error!.message.length).toBeLessThan(500);
  });

  it('an unknown op, such as a truncate or a message with schemas', () => {
    refuses(edited('insert', (e) => (e.op = 't')), /op "t"; expected r, c, u or d/);
    refuses({ key: '1', value: JSON.stringify({ schema: {}, payload: JSON.parse(message('insert').value!) }) }, /op undefined/);
  });

  it('a key that is not the id alone', () => {
    refuses({ key: '{"id":900001}', value: message('insert').value }, /key is not a movie id.*transforms\.key/);
    refuses({ key: '01', value: message('insert').value }, /key is not a movie id/);
  });

  it('a key and a value that name different movies', () => {
    refuses({ key: '362', value: message('insert').value }, /key 362 and value id 900001 disagree/);
  });

  it('rows with the wrong shape', () => {
    refuses(edited('insert', (e) => (e.after = null)), /after \(op c\) is not a row object/);
    refuses(edited('insert', (e) => (e.after.title = null)), /title is not a string/);
    refuses(edited('insert', (e) => (e.after.release_year = '1989')), /release_year is not an integer or null/);
    refuses(edited('insert', (e) => (e.after.country = 7)), /country is not a string or null/);
    refuses(edited('insert', (e) => (e.after.genres = '{Action}')), /genres is not an array/);
    refuses(edited('insert', (e) => (e.after.genres = ['Action', 3])), /genres has an element that is not text/);
    refuses(edited('insert', (e) => (e.after.id = 1.5)), /after \(op c\)\.id is not an integer id/);
    refuses({ key: null, value: message('delete').value!.replace('"before":{', '"before":null,"x":{') }, /neither a key nor before\.id/);
  });

  it('drops NULL elements of a genres array (the API has no null genre)', () => {
    expect(decode(edited('insert', (e) => (e.after.genres = ['Action', null])))).toMatchObject({ movie: { genres: ['Action'] } });
  });
});
