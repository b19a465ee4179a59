/**
 * Where Debezium's format stops. The `movies` topic carries Debezium's change events for the legacy catalog (its
 * bounded copy `movies_capture`; JSON without schemas, keyed by the movie id alone: infra/connect/connect.ts);
 * this turns one Kafka message into the ratings domain's own `MovieChange`, and nothing past this file knows
 * about `op`, `before`/`after` or snake_case columns.
 *
 * Malformed input throws an Error saying what was wrong; the runtime dead-letters that message and carries on.
 * A movie larger than CATALOG_BOUNDS is cut to them, and the change says what was cut (`reduced`).
 */

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
        movie: {
          movieId, title: movie.title, releaseYear: movie.releaseYear, country: movie.country, genres: movie.genres,
          ...(movie.reduced.length && { reduced: movie.reduced }),
        },
      };
    }
    case 'd': {
      // `before` carries the deleted row's key (the capture table's REPLICA IDENTITY DEFAULT); only its id matters.
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
  reduced: string[];
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
  // What the capture table already cut, in its own words (a text[] column; absent from a connector on the raw table).
  const { reduced = null } = row;
  if (reduced !== null && !(Array.isArray(reduced) && reduced.every((r) => typeof r === 'string'))) {
    throw new Error(`movie change ${where}.reduced is not a list of text or null`);
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
