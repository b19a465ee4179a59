/**
 * The decoder on real Debezium messages (fixtures/debezium-movies.json, captured from the connector configured by
 * infra/connect/connect.ts: snapshot, insert, update, delete, tombstone) and on what must be refused.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOG_BOUNDS, decodeMovieChange, MAX_CHANGE_BYTES } from './catalog-change.ts';

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
    // The capture table's REPLICA IDENTITY is DEFAULT: an update carries no old row, which nothing here needs.
    expect(JSON.parse(message('updateTitle').value!).before).toBeNull();
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
    expect(JSON.parse(message('delete').value!).before).toMatchObject({ id: 900001, title: '' });
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
      delete e.after.reduced;
      e.after.title = 'T'.repeat(titleChars + 5);
      e.after.country = 'C'.repeat(countryChars + 1);
      e.after.genres = ['G'.repeat(genreChars * 3), ...Array.from({ length: 100_000 }, (_, i) => String(i))]; // ~690 KB
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

  it('refuses `reduced` that is not a list of text', () => {
    expect(() => decode(edited('insert', (e) => (e.after.reduced = 'title')))).toThrow(/reduced is not a list of text or null/);
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
