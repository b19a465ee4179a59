/**
 * Where Debezium's format stops. The `movies` topic carries Debezium's change events for the legacy catalog's
 * `movies` table (JSON without schemas, keyed by the movie id alone: infra/connect/connect.ts); this turns one
 * Kafka message into the ratings domain's own `MovieChange`, and nothing past this file knows about `op`,
 * `before`/`after` or snake_case columns.
 *
 * Malformed input throws an Error saying what was wrong; the runtime dead-letters that message and carries on.
 */

export type MovieChange =
  | {
      type: 'MovieUpserted';
      movie: { movieId: string; title: string; releaseYear: number | null; country: string | null; genres: string[] };
    }
  | { type: 'MovieRemoved'; movieId: string };

/** Far above any real row (a movie is a few hundred bytes); refused before parsing so garbage cannot cost much. */
export const MAX_CHANGE_BYTES = 1024 * 1024;

/** The catalog's ids are bigints: an optional minus sign and digits, no leading zeros. */
const ID = /^-?(0|[1-9][0-9]*)$/;

/**
 * Decodes one message of the `movies` topic. A tombstone (null value) is `undefined`: the delete event just before
 * it already said `MovieRemoved`, and the tombstone only lets Kafka compact the movie away.
 */
export function decodeMovieChange(key: Buffer | null, value: Buffer | null): MovieChange | undefined {
  const keyId = key === null ? undefined : decodeKey(key);
  if (value === null) return undefined;
  if (value.length > MAX_CHANGE_BYTES) {
    throw new Error(`movie change too large: ${value.length} bytes (at most ${MAX_CHANGE_BYTES}); not a Debezium change event of the movies table`);
  }
  const event = parseJson(value, 'value');
  if (!isRecord(event)) throw new Error(`movie change value is not a JSON object: ${preview(value)}`);

  switch (event.op) {
    case 'r': // a row of the initial snapshot
    case 'c':
    case 'u': {
      const movie = decodeRow(event.after, `after (op ${event.op})`);
      const movieId = sameId(keyId, movie.id);
      return {
        type: 'MovieUpserted',
        movie: { movieId, title: movie.title, releaseYear: movie.releaseYear, country: movie.country, genres: movie.genres },
      };
    }
    case 'd': {
      // REPLICA IDENTITY FULL: `before` is the whole deleted row; only its id matters here.
      if (event.before !== null && !isRecord(event.before)) throw new Error(`movie change op d: before is not an object or null`);
      const beforeId = isRecord(event.before) && event.before.id !== undefined ? decodeValueId(event.before.id, 'before.id') : undefined;
      if (keyId === undefined && beforeId === undefined) throw new Error('movie change op d has neither a key nor before.id: cannot tell which movie was removed');
      return { type: 'MovieRemoved', movieId: sameId(keyId, beforeId) };
    }
    default:
      throw new Error(
        `movie change has op ${JSON.stringify(event.op)}; expected r, c, u or d (is this a Debezium change event of the movies table, without schemas?)`,
      );
  }
}

/** The key is the movie id alone, as JSON (`362`); kept as text, so ids beyond 2^53 stay exact. */
function decodeKey(key: Buffer): string {
  const text = key.toString('utf8').trim();
  if (ID.test(text)) return text;
  throw new Error(`movie change key is not a movie id: ${preview(key)} (the connector must key by id alone: transforms.key)`);
}

/** An id inside the value. JSON.parse has already rounded it, so one beyond 2^53 can only be trusted via the key. */
function decodeValueId(id: unknown, where: string): string | undefined {
  if (typeof id !== 'number' || !Number.isInteger(id)) throw new Error(`movie change ${where} is not an integer id: ${JSON.stringify(id)}`);
  return Number.isSafeInteger(id) ? String(id) : undefined;
}

/** The key's id wins (it is exact); a value that names another movie is refused. */
function sameId(keyId: string | undefined, valueId: string | undefined): string {
  if (keyId !== undefined && valueId !== undefined && keyId !== valueId) {
    throw new Error(`movie change key ${keyId} and value id ${valueId} disagree`);
  }
  const id = keyId ?? valueId;
  if (id === undefined) throw new Error('movie change has no key and an id beyond 2^53 in its value: cannot tell which movie it is exactly');
  return id;
}

interface Row {
  id: string | undefined;
  title: string;
  releaseYear: number | null;
  country: string | null;
  genres: string[];
}

function decodeRow(row: unknown, where: string): Row {
  if (!isRecord(row)) throw new Error(`movie change ${where} is not a row object: ${JSON.stringify(row)?.slice(0, 200)}`);
  const { title, release_year: releaseYear, country, genres } = row;
  if (typeof title !== 'string') throw new Error(`movie change ${where}.title is not a string`);
  if (releaseYear !== null && releaseYear !== undefined && !Number.isInteger(releaseYear)) {
    throw new Error(`movie change ${where}.release_year is not an integer or null: ${JSON.stringify(releaseYear)}`);
  }
  if (country !== null && country !== undefined && typeof country !== 'string') throw new Error(`movie change ${where}.country is not a string or null`);
  if (!Array.isArray(genres)) throw new Error(`movie change ${where}.genres is not an array`);
  if (genres.some((g) => g !== null && typeof g !== 'string')) throw new Error(`movie change ${where}.genres has an element that is not text`);
  return {
    id: decodeValueId(row.id, `${where}.id`),
    title,
    releaseYear: (releaseYear as number | null | undefined) ?? null,
    country: (country as string | null | undefined) ?? null,
    // A text[] may hold NULL elements; a genre that is NULL says nothing, and the API's genres are non-null.
    genres: genres.filter((g): g is string => typeof g === 'string'),
  };
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new Error(`movie change ${what} is not JSON (${(error as Error).message}): ${preview(bytes)}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The start of some bytes for an error message: enough to recognise them, never a megabyte. */
function preview(bytes: Buffer): string {
  const text = JSON.stringify(bytes.subarray(0, 80).toString('utf8'));
  return bytes.length > 80 ? `${text}… (${bytes.length} bytes)` : text;
}
