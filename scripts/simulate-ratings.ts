/**
 * `npm run simulate:ratings -- --movies 22 --rate 500 --seconds 60 [--via kafka|graphql]`: a ratings load.
 *
 * Each movie gets a deterministic target (2.0–9.5, from its id); each rating is that target plus gaussian noise
 * (σ = 2), clamped to 0–10 and rounded to one decimal. `--via kafka` (default) publishes RateMovie commands
 * straight to `raw-ratings` with the project's bus, in batches keyed by movie id; `--via graphql` sends
 * `rateMovie` mutations to the gateway from a few concurrent clients. Progress every second; at the end, per
 * movie: what was sent, its target, the system's average (once the projection has counted everything, read
 * through GraphQL) beside the exact average of what was sent.
 *
 * Options (all bounded; anything else is refused with the usage, exit 2):
 *   --movies N        the catalog's first N movie ids (1..N); default 22, at most 1200
 *   --ids 362,11,…    these movie ids instead (at most 1000)
 *   --rate R          ratings per second, 1–100000; default 500
 *   --seconds S       how long to send, 1–3600; default 60
 *   --via kafka|graphql   default kafka
 *   --clients C       concurrent GraphQL clients with --via graphql, 1–64; default 8
 *   --wait S          how long to wait for the system to count everything, 0–600; default 60
 *   --seed N          seed of the noise (same seed, same ratings); default 1
 * Reads KAFKA_BROKERS and TOPIC_PREFIX like every process, and GATEWAY_URL (default http://localhost:4000/graphql).
 * Exit codes: 0 done (and, when the gateway answers, the system's averages equal the exact ones), 1 failed, 2 bad usage.
 */
import { toolToken } from '../gateway/auth.ts';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ratingsContract } from '../services/ratings/contract.ts';
import { createBus } from '../services/shared/bus.ts';

export interface SimulateOptions {
  movieIds: string[];
  /** Ratings per second. */
  rate: number;
  seconds: number;
  via: 'kafka' | 'graphql';
  /** Default: GATEWAY_URL, else http://localhost:4000/graphql. */
  gatewayUrl?: string;
  /** Concurrent clients with `via: 'graphql'`. Default 8. */
  clients?: number;
  /** How long to wait for the system to count what was sent, in ms. Default 60000. */
  waitMs?: number;
  /** Seed of the noise. Default 1. */
  seed?: number;
  /** Progress and result lines. Default: console.log. */
  log?: (line: string) => void;
}

export interface MovieOutcome {
  movieId: string;
  /** From the gateway, else the id. */
  title: string;
  target: number;
  /** Every rating sent and accepted, in order. */
  ratings: number[];
  /** Exact average of `ratings` (from integer tenths), null when none was sent. */
  sentAverage: number | null;
  /** What the system had before the run (when the gateway answered). */
  before: { count: number; sumTenths: number } | null;
  /** The system's rating after it caught up (or at the deadline); null when the gateway did not answer. */
  system: { count: number; average: number | null } | null;
  /** Exact average the system should show: what it had before plus what was sent. */
  expectedAverage: number | null;
}

export interface SimulationResult {
  sent: number;
  failed: number;
  seconds: number;
  achievedRate: number;
  /** Whether the system counted every rating sent before the deadline (false when it could not be read). */
  caughtUp: boolean;
  /** Whether every movie's average in the system equals the exact expected one (false when it could not be read). */
  matches: boolean;
  movies: MovieOutcome[];
}

const SIGMA = 2;
const KAFKA_BATCH = 2000;
const ALIASES_PER_QUERY = 25; // under the gateway's default MAX_ALIASES (30)

/** The movie's target average, 2.0–9.5 in tenths, from its id alone (FNV-1a), so every run agrees. */
export function targetOf(movieId: string): number {
  let hash = 0x811c9dc5;
  for (const char of movieId) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return (20 + (hash % 76)) / 10;
}

/** mulberry32: a small seeded generator, so a seed reproduces a run's ratings. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A rating in tenths: target + N(0, σ²), clamped to 0–100 tenths (Box–Muller). */
function noisyTenths(target: number, random: () => number): number {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.min(100, Math.max(0, Math.round((target + SIGMA * z) * 10)));
}

/** Exact average of ratings given in tenths: one division of integers. */
const averageOfTenths = (sumTenths: number, count: number) => (count ? sumTenths / (count * 10) : null);

async function graphql(url: string, query: string, variables?: Record<string, unknown>) {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${await toolToken()}` };
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return (await response.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
}

interface SystemMovie { title: string; rating: { count: number; average: number } | null }

/** Movies by id through the gateway, a few per request (aliases); undefined when the gateway does not answer. */
async function readMovies(url: string, ids: string[]): Promise<Map<string, SystemMovie | null> | undefined> {
  const found = new Map<string, SystemMovie | null>();
  try {
    for (let i = 0; i < ids.length; i += ALIASES_PER_QUERY) {
      const chunk = ids.slice(i, i + ALIASES_PER_QUERY);
      // Ids are checked digits, so they can sit in the document itself.
      const fields = chunk.map((id, j) => `m${j}: movie(id: "${id}") { title rating { count average } }`).join(' ');
      const { data, errors } = await graphql(url, `{ ${fields} }`);
      if (errors) throw new Error(errors[0].message);
      chunk.forEach((id, j) => found.set(id, data[`m${j}`]));
    }
    return found;
  } catch {
    return undefined;
  }
}

/** Runs the load and reports per movie; never exits the process (the CLI below does). */
export async function simulateRatings(options: SimulateOptions): Promise<SimulationResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const url = options.gatewayUrl ?? process.env.GATEWAY_URL ?? 'http://localhost:4000/graphql';
  const random = seededRandom(options.seed ?? 1);
  const total = Math.floor(options.rate * options.seconds);
  const movies = options.movieIds.map((movieId) => ({ movieId, target: targetOf(movieId), ratings: [] as number[], sumTenths: 0 }));

  // What the system shows before: titles, and the totals this run adds to (movies may have been rated already).
  const before = await readMovies(url, options.movieIds);
  if (before) {
    const missing = options.movieIds.filter((id) => !before.get(id));
    if (missing.length) throw new Error(`no movie with id ${missing.slice(0, 10).join(', ')} in the catalog: pick ids the catalog has (the seeded one has 1–1200)`);
  } else if (options.via === 'graphql') {
    throw new Error(`the gateway at ${url} does not answer: start the system (npm start) or set GATEWAY_URL`);
  } else {
    log(`the gateway at ${url} does not answer: sending anyway, without titles or the system's averages`);
  }

  // The next rating: a movie picked uniformly, its noisy rating. Counted only once accepted.
  const next = () => {
    const movie = movies[Math.floor(random() * movies.length)];
    return { movie, tenths: noisyTenths(movie.target, random) };
  };
  const accept = (movie: (typeof movies)[number], tenths: number) => {
    movie.ratings.push(tenths / 10);
    movie.sumTenths += tenths;
  };

  let sent = 0;
  let failed = 0;
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let lastSent = 0;
  const progress = setInterval(() => {
    log(`  ${elapsed().toFixed(0)} s: ${sent}/${total} sent, ${(sent / elapsed()).toFixed(0)}/s overall, ${sent - lastSent} in the last second${failed ? `, ${failed} failed` : ''}`);
    lastSent = sent;
  }, 1000);
  log(`sending ${total} ratings of ${movies.length} movie(s) at ${options.rate}/s for ${options.seconds} s via ${options.via}`);

  try {
    if (options.via === 'kafka') {
      const bus = await createBus({ clientId: 'simulate-ratings' });
      try {
        // Whatever is due by now goes in one publish: a slow round trip is made up by a bigger next batch.
        while (sent < total) {
          const due = Math.min(total, Math.floor(elapsed() * options.rate)) - sent;
          if (due <= 0) {
            await new Promise((r) => setTimeout(r, Math.max(1, Math.min(20, 1000 / options.rate))));
            continue;
          }
          const batch = Array.from({ length: Math.min(due, KAFKA_BATCH) }, next);
          await bus.publish(batch.map(({ movie, tenths }) =>
            ratingsContract.outgoing(ratingsContract.command({ type: 'RateMovie', data: { movieId: movie.movieId, rating: tenths / 10 } }))));
          for (const { movie, tenths } of batch) accept(movie, tenths);
          sent += batch.length;
        }
      } finally {
        await bus.close();
      }
    } else {
      const mutation = `mutation($id: ID!, $rating: Float!) { rateMovie(movieId: $id, rating: $rating) { id } }`;
      let issued = 0;
      await Promise.all(Array.from({ length: options.clients ?? 8 }, async () => {
        while (issued < total) {
          const wait = (issued / options.rate - elapsed()) * 1000; // the next rating's slot in the schedule
          if (wait > 0) {
            await new Promise((r) => setTimeout(r, wait));
            continue;
          }
          issued += 1;
          const { movie, tenths } = next();
          const result = await graphql(url, mutation, { id: movie.movieId, rating: tenths / 10 }).catch((error: Error) => ({ errors: [{ message: error.message, extensions: {} as { code?: string } }] }));
          if (result.errors) {
            failed += 1;
            // A TIMEOUT may still be counted later: the comparison at the end would say so.
            if (failed <= 5) log(`  rateMovie ${movie.movieId} ${tenths / 10} failed: ${result.errors[0].extensions?.code ?? ''} ${result.errors[0].message}`);
          } else {
            accept(movie, tenths);
            sent += 1;
          }
        }
      }));
    }
  } finally {
    clearInterval(progress);
  }
  const seconds = elapsed();
  log(`sent ${sent} ratings in ${seconds.toFixed(1)} s: ${(sent / seconds).toFixed(0)}/s achieved (target ${options.rate}/s)${failed ? `; ${failed} failed` : ''}`);

  // Wait until the system has counted everything (count = before + sent for every movie), with a deadline.
  const expected = (m: (typeof movies)[number]) => {
    const base = before?.get(m.movieId)?.rating;
    const baseCount = base?.count ?? 0;
    const baseTenths = base ? Math.round(base.average * base.count * 10) : 0; // exact: sumTenths / (count × 10) was a double of it
    return { count: baseCount + m.ratings.length, sumTenths: baseTenths + m.sumTenths, baseCount, baseTenths };
  };
  let after: Map<string, SystemMovie | null> | undefined;
  let caughtUp = false;
  if (before) {
    const deadline = Date.now() + (options.waitMs ?? 60_000);
    log('waiting for the system to count every rating…');
    for (;;) {
      after = await readMovies(url, options.movieIds);
      caughtUp = Boolean(after) && movies.every((m) => (after!.get(m.movieId)?.rating?.count ?? 0) >= expected(m).count);
      if (caughtUp || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (!caughtUp) log(`the system had not counted every rating after ${((options.waitMs ?? 60_000) / 1000).toFixed(0)} s; showing what it has`);
  }

  const outcomes: MovieOutcome[] = movies.map((m) => {
    const e = expected(m);
    const now = after?.get(m.movieId);
    return {
      movieId: m.movieId,
      title: before?.get(m.movieId)?.title ?? m.movieId,
      target: m.target,
      ratings: m.ratings,
      sentAverage: averageOfTenths(m.sumTenths, m.ratings.length),
      before: before ? { count: e.baseCount, sumTenths: e.baseTenths } : null,
      system: now ? { count: now.rating?.count ?? 0, average: now.rating?.average ?? null } : null,
      expectedAverage: averageOfTenths(e.sumTenths, e.count),
    };
  });
  const matches = Boolean(after) && outcomes.every((o) => o.system!.count === (o.before!.count + o.ratings.length) && o.system!.average === o.expectedAverage);
  printTable(outcomes, log);
  if (after) log(matches ? 'every movie\'s average in the system equals the exact average of what it was sent' : 'MISMATCH: some movie\'s count or average differs from what was sent (see the table)');
  return { sent, failed, seconds, achievedRate: sent / seconds, caughtUp, matches, movies: outcomes };
}

function printTable(outcomes: MovieOutcome[], log: (line: string) => void) {
  const fmt = (n: number | null | undefined, digits = 3) => (n === null || n === undefined ? '–' : n.toFixed(digits));
  const rows = [
    ['movie', 'title', 'sent', 'target', 'sent avg (exact)', 'system avg', 'system count', 'had before'],
    ...outcomes.map((o) => [
      o.movieId, o.title.length > 32 ? `${o.title.slice(0, 31)}…` : o.title, String(o.ratings.length), o.target.toFixed(1),
      fmt(o.sentAverage), o.system ? fmt(o.system.average) : 'n/a', o.system ? String(o.system.count) : 'n/a', o.before ? String(o.before.count) : 'n/a',
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) log(row.map((c, i) => (i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

const USAGE = `usage: npm run simulate:ratings -- [--movies N | --ids 362,11,…] [--rate R] [--seconds S] [--via kafka|graphql]
                                   [--clients C] [--wait S] [--seed N]
  --movies N   the catalog's first N movie ids, 1–1200 (default 22)    --ids   up to 1000 movie ids
  --rate R     ratings per second, 1–100000 (default 500)              --seconds S   1–3600 (default 60)
  --via        kafka (RateMovie on raw-ratings, default) or graphql (rateMovie mutations to GATEWAY_URL)
  --clients C  concurrent GraphQL clients, 1–64 (default 8)            --wait S  catch-up deadline, 0–600 (default 60)
  --seed N     noise seed, a non-negative integer (default 1)`;

/** Parses the command line into options, or a reason to refuse it. */
export function parseSimulateArgs(argv: string[]): SimulateOptions | { error: string } | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        movies: { type: 'string' }, ids: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' },
        via: { type: 'string' }, clients: { type: 'string' }, wait: { type: 'string' }, seed: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return { error: (error as Error).message };
  }
  if (values.help) return 'help';
  const integer = (name: string, fallback: number, min: number, max: number): number | string => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    if (typeof raw !== 'string' || !/^\d{1,7}$/.test(raw)) return `--${name} takes a whole number, got "${String(raw)}"`;
    const n = Number(raw);
    return n < min || n > max ? `--${name} must be within ${min}–${max}, got ${n}` : n;
  };
  if (values.movies !== undefined && values.ids !== undefined) return { error: 'give --movies or --ids, not both' };
  let movieIds: string[];
  if (typeof values.ids === 'string') {
    movieIds = values.ids.split(',').map((s) => s.trim());
    const bad = movieIds.find((id) => !/^\d{1,19}$/.test(id));
    if (bad !== undefined) return { error: `--ids takes movie ids (digits) separated by commas, got "${bad}"` };
    if (movieIds.length > 1000) return { error: `--ids takes at most 1000 ids, got ${movieIds.length}` };
    if (new Set(movieIds).size !== movieIds.length) return { error: '--ids names a movie twice' };
  } else {
    const n = integer('movies', 22, 1, 1200);
    if (typeof n === 'string') return { error: n };
    movieIds = Array.from({ length: n }, (_, i) => String(i + 1));
  }
  const rate = integer('rate', 500, 1, 100_000);
  const seconds = integer('seconds', 60, 1, 3600);
  const clients = integer('clients', 8, 1, 64);
  const wait = integer('wait', 60, 0, 600);
  const seed = integer('seed', 1, 0, 9_999_999);
  for (const v of [rate, seconds, clients, wait, seed]) if (typeof v === 'string') return { error: v };
  const via = values.via ?? 'kafka';
  if (via !== 'kafka' && via !== 'graphql') return { error: `--via is kafka or graphql, got "${String(via)}"` };
  return {
    movieIds, via, rate: rate as number, seconds: seconds as number, clients: clients as number,
    waitMs: (wait as number) * 1000, seed: seed as number,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const parsed = parseSimulateArgs(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(USAGE);
    process.exit(0);
  }
  if ('error' in parsed) {
    console.error(`${parsed.error}\n${USAGE}`);
    process.exit(2);
  }
  try {
    const result = await simulateRatings(parsed);
    process.exit(result.sent > 0 && (result.matches || !result.movies[0]?.system) ? 0 : 1);
  } catch (error) {
    console.error(`simulate:ratings failed: ${(error as Error).message}`);
    process.exit(1);
  }
}
