/**
 * The movie ratings app at /app in a real browser (Debian's Chromium, driven by playwright-core) against the whole
 * system: the leaderboard arrives over graphql-ws, a rating given on the page and one given by another client
 * through GraphQL both show up live without a reload, and nothing the page loads comes from anywhere but the
 * gateway. Leaves a screenshot in test/artifacts/app.png.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { openRecordedPage, type RecordedPage } from './support/browser.ts';
import { startSystem, waitFor, type TestSystem } from './support/system.ts';

const LETHAL_WEAPON = '362';
const STAR_WARS = '11';
const RATE = `mutation($movieId: ID!, $rating: Float!) { rateMovie(movieId: $movieId, rating: $rating) { id rating { count average } } }`;
const TOP = `query { topRatedMovies(limit: 10, minRatings: 1) { id rating { count average } } }`;
/** Long enough for a cold first start (the bundle, the catalog from the log); the waits end as soon as they hold. */
const UI_TIMEOUT_MS = 30_000;

let system: TestSystem;
let recorded: RecordedPage;
let page: Page;
let origin: URL;
/** The page's gateway, started again on its address after it was stopped. */
let restarted: RunningGateway | undefined;

beforeAll(async () => {
  system = await startSystem({ catalog: true, gateways: 2 });
  origin = new URL(system.gateways[0].url);
  recorded = await openRecordedPage('app.png', { width: 1280, height: 900 });
  page = recorded.page;
});

afterAll(async () => {
  try {
    await recorded?.close();
    await restarted?.stop();
  } finally {
    await system?.stop();
  }
});

const leaderboardRow = (movieId: string) => page.locator(`table.leaderboard tbody tr[data-movie-id="${movieId}"]`);
const leaderboardIds = () => page.locator('table.leaderboard tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-movie-id')));
const cell = (movieId: string, name: string) => leaderboardRow(movieId).locator(`td.${name}`).innerText();
/** The leaderboards the server pushed to the page, oldest first. */
const pushedLeaderboards = () =>
  recorded.received.filter((m) => m.type === 'next' && m.payload.data?.topRatedMoviesChanged).map((m) => m.payload.data.topRatedMoviesChanged as { id: string }[]);

async function rate(movieId: string, rating: number) {
  const result = await system.gql(RATE, { movieId, rating });
  expect(result.errors).toBeUndefined();
  return result.data.rateMovie;
}

describe('the movie ratings app', () => {
  it('opens with the live leaderboard', async () => {
    // The ratings service learns the catalog from the log (Debezium's snapshot); until Star Wars has arrived
    // there, it is an unknown movie.
    const deadline = Date.now() + UI_TIMEOUT_MS;
    let first = await system.gql(RATE, { movieId: STAR_WARS, rating: 9 });
    while (first.errors?.[0]?.extensions?.code === 'NOT_FOUND' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      first = await system.gql(RATE, { movieId: STAR_WARS, rating: 9 });
    }
    expect(first.errors).toBeUndefined();
    // Ratings reach the leaderboard through the log; wait until the API shows it, so the page's first list does.
    await waitFor(async () => (await system.gql(TOP)).data?.topRatedMovies?.some((m: { id: string }) => m.id === STAR_WARS) === true, UI_TIMEOUT_MS, () => 'Star Wars on the leaderboard');

    await page.goto(new URL('/app', origin).href);
    await leaderboardRow(STAR_WARS).waitFor({ timeout: UI_TIMEOUT_MS });
    expect(await cell(STAR_WARS, 'title')).toBe('Star Wars');
    expect(await cell(STAR_WARS, 'year')).toBe('1977');
    expect(await cell(STAR_WARS, 'average')).toBe('9.00');
    expect(await cell(STAR_WARS, 'count')).toBe('1');
    await expect.poll(() => page.locator('.status').innerText(), { timeout: UI_TIMEOUT_MS }).toBe('live');
    // It came over graphql-ws, as the subscription the page started.
    const subscribe = recorded.sent.find((m) => m.type === 'subscribe' && /topRatedMoviesChanged/.test(m.payload.query));
    expect(subscribe?.payload.variables).toEqual({ limit: 10, minRatings: 1 });
    expect(pushedLeaderboards().length).toBeGreaterThan(0);
  });

  it('rates Lethal Weapon from the page; the leaderboard moves it to the top live', async () => {
    const navigations = recorded.requested.filter((url) => new URL(url).pathname === '/app').length;
    await page.getByLabel('Search movies').fill('Lethal Weapon');
    const result = page.locator(`.results li[data-movie-id="${LETHAL_WEAPON}"]`);
    await result.waitFor({ timeout: UI_TIMEOUT_MS });
    expect(await result.locator('.title').innerText()).toBe('Lethal Weapon');
    expect(await result.locator('.average').innerText()).toBe('not rated yet');

    await result.getByLabel('Rating for Lethal Weapon').fill('9.5');
    await result.getByRole('button', { name: 'Rate Lethal Weapon' }).click();
    await expect.poll(() => result.locator('.average').innerText(), { timeout: UI_TIMEOUT_MS }).toBe('9.50 (1 rating)');

    // Pushed, not fetched: first place, and highlighted because it is new to the list.
    await expect.poll(leaderboardIds, { timeout: UI_TIMEOUT_MS }).toEqual([LETHAL_WEAPON, STAR_WARS]);
    expect(await cell(LETHAL_WEAPON, 'average')).toBe('9.50');
    expect(await cell(LETHAL_WEAPON, 'count')).toBe('1');
    expect(await leaderboardRow(LETHAL_WEAPON).getAttribute('class')).toContain('moved');
    expect(pushedLeaderboards().at(-1)?.map((m) => m.id)).toEqual([LETHAL_WEAPON, STAR_WARS]);
    expect(recorded.requested.filter((url) => new URL(url).pathname === '/app').length).toBe(navigations);
  });

  it('shows a rating given elsewhere through GraphQL without a reload', async () => {
    const pushed = pushedLeaderboards().length;
    expect(await rate(LETHAL_WEAPON, 10)).toMatchObject({ id: LETHAL_WEAPON });
    // (9.5 + 10) / 2, exactly.
    await expect.poll(() => cell(LETHAL_WEAPON, 'average'), { timeout: UI_TIMEOUT_MS }).toBe('9.75');
    expect(await cell(LETHAL_WEAPON, 'count')).toBe('2');
    expect(pushedLeaderboards().length).toBeGreaterThan(pushed);
    // The search result follows the movie too (movieRatingChanged).
    const result = page.locator(`.results li[data-movie-id="${LETHAL_WEAPON}"]`);
    await expect.poll(() => result.locator('.average').innerText(), { timeout: UI_TIMEOUT_MS }).toBe('9.75 (2 ratings)');
  });

  it("shows the API's refusal of a rating with two decimals, and changes nothing", async () => {
    const result = page.locator(`.results li[data-movie-id="${LETHAL_WEAPON}"]`);
    await result.getByLabel('Rating for Lethal Weapon').fill('7.25');
    await result.getByRole('button', { name: 'Rate Lethal Weapon' }).click();
    await result.getByRole('alert').waitFor({ timeout: UI_TIMEOUT_MS });
    expect(await result.getByRole('alert').innerText()).toMatch(/decimal/i);
    expect(await cell(LETHAL_WEAPON, 'count')).toBe('2');
  });

  it('catches up without a reload after the server closed its socket: what it shows is what a fresh load shows', async () => {
    const navigations = recorded.requested.filter((url) => new URL(url).pathname === '/app').length;
    // The page's gateway goes away (its sockets closed from the server); ratings keep coming through another one.
    await system.gateways[0].stop();
    await page.getByRole('status').filter({ hasText: 'reconnecting' }).waitFor({ timeout: UI_TIMEOUT_MS });
    for (const [movieId, rating] of [[STAR_WARS, 10], [STAR_WARS, 10], [LETHAL_WEAPON, 1]] as const) {
      const result = await system.gql(RATE, { movieId, rating }, system.gateways[1]);
      expect(result.errors).toBeUndefined();
    }
    // Back on the same address: the page reconnects by itself and subscribes again.
    restarted = await startGateway({ port: Number(origin.port), host: '127.0.0.1', commandTimeoutMs: 20_000 });
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: UI_TIMEOUT_MS });
    const fresh = await page.context().browser()!.newPage(); // a page of its own: nothing shared with the one under test
    try {
      await fresh.goto(new URL('/app', origin).href);
      const shown = (p: Page) => p.locator('table.leaderboard tbody tr').evaluateAll((rows) =>
        rows.map((row) => [row.getAttribute('data-movie-id'), row.querySelector('td.average')?.textContent, row.querySelector('td.count')?.textContent]));
      await fresh.locator('table.leaderboard tbody tr').first().waitFor({ timeout: UI_TIMEOUT_MS });
      const expected = await shown(fresh);
      expect(expected.slice(0, 2).map(([id]) => id)).toEqual([STAR_WARS, LETHAL_WEAPON]); // the ratings given meanwhile
      await expect.poll(() => shown(page), { timeout: UI_TIMEOUT_MS }).toEqual(expected);
    } finally {
      await fresh.close();
    }
    expect(recorded.requested.filter((url) => new URL(url).pathname === '/app').length).toBe(navigations); // no reload
  });

  it('loads nothing from outside the gateway', () => {
    const outside = recorded.requested.filter((url) => {
      const { protocol, host } = new URL(url);
      if (protocol === 'data:' || protocol === 'blob:') return false;
      return !['http:', 'ws:'].includes(protocol) || host !== origin.host;
    });
    expect(recorded.requested.length).toBeGreaterThan(0);
    expect(outside).toEqual([]);
  });
});
