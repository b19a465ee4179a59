/**
 * Where Debezium's format stops. The `movies` topic carries Debezium's change events for the legacy catalog (its
 * bounded copy `movies_capture`), keyed by the movie id alone as JSON text and valued in Avro through the schema
 * registry's converter: magic byte 0, the writer schema's id, the record (infra/connect/connect.ts). This reads one
 * Kafka message with the schema its id names and turns it into the ratings domain's own `MovieChange`; nothing past
 * this file knows about `op`, `before`/`after` or snake_case columns.
 *
 * Malformed input throws SystemError INVALID_MESSAGE saying what was wrong; the runtime dead-letters that message
 * and carries on. A movie larger than CATALOG_BOUNDS is cut to them, and the change says what was cut (`reduced`).
 */
import { avroOf } from '../shared/avro.ts';
import { SystemError } from '../shared/errors.ts';
import type { SchemaIds } from '../shared/wire.ts';

export type MovieChange =
  | {
      type: 'MovieUpserted';
      movie: {
        movieId: string;
        title: string;
        releaseYear: number | null;
        country: string | null;
        genres: string[];
        /** What was cut to fit CATALOG_BOUNDS (at the source or here), one phrase each; absent when nothing was. */
        reduced?: string[];
      };
    }
  | { type: 'MovieRemoved'; movieId: string };

/**
 * What the system keeps of a catalog row, in characters (Unicode code points, as PostgreSQL counts them). The
 * legacy table holds text of any length and arrays of any size, and one change larger than Kafka Connect's producer
 * takes (1 MiB) would stop capture for good. The capture table bounds every row to these at the source
 * (infra/legacy-postgres.ts), and this decoder bounds again, so a connector configured otherwise cannot bring more.
 * 20 genres: the GraphQL cost estimate counts 20 items for a list (gateway/limits.ts).
 */
export const CATALOG_BOUNDS = { titleChars: 1000, countryChars: 100, genres: 20, genreChars: 100 } as const;

/** Far above any real row (a movie is a few hundred bytes); refused before parsing so garbage cannot cost much. */
export const MAX_CHANGE_BYTES = 1024 * 1024;

/** The catalog's ids are bigints: an optional minus sign and digits, no leading zeros. */
const ID = /^-?(0|[1-9][0-9]*)$/;

const invalid = (reason: string) => new SystemError('INVALID_MESSAGE', reason);

/** A change read, and its identity: the same for the same change sent twice. */
export interface ReadMovieChange {
  change: MovieChange;
  /**
   * The decoded change as canonical JSON, less the top-level `ts_ms`, `ts_us` and `ts_ns`: Debezium stamps those
   * when it sends, so a change re-sent (Connect restarted before its offsets were flushed) differs in them alone.
   */
  identity: string;
}

/**
 * Decodes one message of the `movies` topic with the writer schema its value names (`ids` has learnt the batch's
 * ids). A tombstone (null value) is `undefined`: the delete event just before it already said `MovieRemoved`, and
 * the tombstone only lets Kafka compact the movie away.
 */
export function readMovieChange(key: Buffer | null, value: Buffer | null, ids: SchemaIds): ReadMovieChange | undefined {
  const keyId = key === null ? undefined : decodeKey(key);
  if (value === null) return undefined;
  if (value.length > MAX_CHANGE_BYTES) {
    throw invalid(`movie change too large: ${value.length} bytes (at most ${MAX_CHANGE_BYTES}); not a Debezium change event of the movies table`);
  }
  const { id, record: event } = avroOf(ids, value);
  if (!isRecord(event)) throw invalid(`movie change (schema id ${id}) is not an Avro record`);
  const { ts_ms: _ms, ts_us: _us, ts_ns: _ns, ...sent } = event;
  return { change: changeOf(keyId, event, id), identity: JSON.stringify(sent, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) };
}

/** The change alone (see readMovieChange). */
export function decodeMovieChange(key: Buffer | null, value: Buffer | null, ids: SchemaIds): MovieChange | undefined {
  return readMovieChange(key, value, ids)?.change;
}

function changeOf(keyId: string | undefined, event: Record<string, unknown>, schemaId: number): MovieChange {
  switch (event.op) {
    case 'r': // a row of the initial snapshot
    case 'c':
    case 'u': {
      const movie = decodeRow(event.after, `after (op ${event.op})`);
      const movieId = sameId(keyId, movie.id);
      return {
        type: 'MovieUpserted',
        movie: {
          movieId, title: movie.title, releaseYear: movie.releaseYear, country: movie.country, genres: movie.genres,
          ...(movie.reduced.length && { reduced: movie.reduced }),
        },
      };
    }
    case 'd': {
      // `before` carries the deleted row's key (the capture table's REPLICA IDENTITY DEFAULT); only its id matters.
      if (event.before !== null && !isRecord(event.before)) throw invalid('movie change op d: before is not a row or null');
      const beforeId = isRecord(event.before) && event.before.id !== undefined ? decodeValueId(event.before.id, 'before.id') : undefined;
      if (keyId === undefined && beforeId === undefined) throw invalid('movie change op d has neither a key nor before.id: cannot tell which movie was removed');
      return { type: 'MovieRemoved', movieId: sameId(keyId, beforeId) };
    }
    default:
      throw invalid(
        `movie change has op ${JSON.stringify(event.op)}; expected r, c, u or d (is schema id ${schemaId} a Debezium change event of the movies table?)`,
      );
  }
}

/** The key is the movie id alone, as JSON text (`362`): the key stays JSON (infra/connect/connect.ts says why). */
function decodeKey(key: Buffer): string {
  const text = key.toString('utf8').trim();
  if (ID.test(text)) return text;
  throw invalid(`movie change key is not a movie id: ${preview(key)} (the connector must key by id alone: transforms.key)`);
}

/** An id inside the value: an Avro long, read as a bigint, so exact at any size (an int column reads as a number). */
function decodeValueId(id: unknown, where: string): string {
  if (typeof id === 'bigint' || (typeof id === 'number' && Number.isSafeInteger(id))) return String(id);
  throw invalid(`movie change ${where} is not an integer id: ${typeof id === 'string' ? JSON.stringify(id) : String(id)}`);
}

/** The key's id and the value's must agree; either alone will do. */
function sameId(keyId: string | undefined, valueId: string | undefined): string {
  if (keyId !== undefined && valueId !== undefined && keyId !== valueId) {
    throw invalid(`movie change key ${keyId} and value id ${valueId} disagree`);
  }
  const id = keyId ?? valueId;
  if (id === undefined) throw invalid('movie change has neither a key nor an id in its value: cannot tell which movie it is');
  return id;
}

interface Row {
  id: string;
  title: string;
  releaseYear: number | null;
  country: string | null;
  genres: string[];
  reduced: string[];
}

function decodeRow(row: unknown, where: string): Row {
  if (!isRecord(row)) throw invalid(`movie change ${where} is not a row: ${row === null ? 'null' : typeof row}`);
  const { title, release_year: releaseYear, country, genres } = row;
  if (typeof title !== 'string') throw invalid(`movie change ${where}.title is not a string`);
  if (releaseYear !== null && releaseYear !== undefined && !Number.isInteger(releaseYear)) {
    throw invalid(`movie change ${where}.release_year is not an integer or null: ${typeof releaseYear === 'string' ? JSON.stringify(releaseYear) : String(releaseYear)}`);
  }
  if (country !== null && country !== undefined && typeof country !== 'string') throw invalid(`movie change ${where}.country is not a string or null`);
  if (!Array.isArray(genres)) throw invalid(`movie change ${where}.genres is not an array`);
  if (genres.some((g) => g !== null && typeof g !== 'string')) throw invalid(`movie change ${where}.genres has an element that is not text`);
  // What the capture table already cut, in its own words (a text[] column; absent from a connector on the raw table).
  const { reduced = null } = row;
  if (reduced !== null && !(Array.isArray(reduced) && reduced.every((r) => typeof r === 'string'))) {
    throw invalid(`movie change ${where}.reduced is not a list of text or null`);
  }
  const bounded = boundRow({
    title,
    country: (country as string | null | undefined) ?? null,
    // A text[] may hold NULL elements; a genre that is NULL says nothing, and the API's genres are non-null.
    genres: genres.filter((g): g is string => typeof g === 'string'),
  });
  return {
    id: decodeValueId(row.id, `${where}.id`),
    releaseYear: (releaseYear as number | null | undefined) ?? null,
    ...bounded,
    reduced: [...(reduced ?? []), ...bounded.reduced.map((r) => `${r} (by the decoder)`)],
  };
}

/**
 * The row within CATALOG_BOUNDS, and what was cut to get there (the same phrases as the capture table's). A row
 * bounded at the source passes unchanged.
 */
function boundRow(row: { title: string; country: string | null; genres: string[] }): { title: string; country: string | null; genres: string[]; reduced: string[] } {
  const { titleChars, countryChars, genres: maxGenres, genreChars } = CATALOG_BOUNDS;
  const reduced: string[] = [];
  const title = clip(row.title, titleChars);
  if (title.length < row.title.length) reduced.push(`title: ${codePoints(row.title)} characters, kept ${titleChars}`);
  const country = row.country === null ? null : clip(row.country, countryChars);
  if (country !== null && country.length < row.country!.length) reduced.push(`country: ${codePoints(row.country!)} characters, kept ${countryChars}`);
  if (row.genres.length > maxGenres) reduced.push(`genres: ${row.genres.length}, kept ${maxGenres}`);
  const kept = row.genres.slice(0, maxGenres);
  const genres = kept.map((g) => clip(g, genreChars));
  const longest = Math.max(0, ...kept.filter((g, i) => genres[i].length < g.length).map(codePoints));
  if (longest) reduced.push(`genre characters: the longest ${longest}, kept ${genreChars}`);
  return { title, country, genres, reduced };
}

/** The first `max` code points of `text` (a surrogate pair is one character, never split). */
function clip(text: string, max: number): string {
  if (text.length <= max) return text; // at most `max` UTF-16 units: at most `max` code points
  let end = 0;
  for (let count = 0; count < max && end < text.length; count++) end += text.codePointAt(end)! > 0xffff ? 2 : 1;
  return text.slice(0, end);
}

function codePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; count++) i += text.codePointAt(i)! > 0xffff ? 2 : 1;
  return count;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The start of some bytes for an error message: enough to recognise them, never a megabyte. */
function preview(bytes: Buffer): string {
  const text = JSON.stringify(bytes.subarray(0, 80).toString('utf8'));
  return bytes.length > 80 ? `${text}… (${bytes.length} bytes)` : text;
}
