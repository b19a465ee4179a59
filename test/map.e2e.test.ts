/**
 * The live rides map at /app#map in a real browser (Debian's Chromium, driven by playwright-core) against the whole
 * system: drivers online and a requested ride appear from `cityUpdated`, a driver moves on the map after
 * `updateDriverLocation` and leaves it after `goOffline`, without a reload, and nothing the page loads comes from
 * anywhere but the gateway. Leaves a screenshot in test/artifacts/map.png.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { openRecordedPage, type RecordedPage } from './support/browser.ts';
import { startSystem, type TestSystem } from './support/system.ts';

const GO_ONLINE = `mutation($driverId: ID!, $location: LocationInput!) { goOnline(driverId: $driverId, location: $location) { id status } }`;
const MOVE = `mutation($driverId: ID!, $location: LocationInput!) { updateDriverLocation(driverId: $driverId, location: $location) { id location { lat lng } } }`;
const GO_OFFLINE = `mutation($driverId: ID!) { goOffline(driverId: $driverId) { id status } }`;
const REQUEST = `mutation($input: RequestRideInput!) { requestRide(input: $input) { id state } }`;
const RIDE = `query($id: ID!) { ride(id: $id) { state driverId } }`;
/** Long enough for a cold first start (the bundle, the consumers joining); the waits end as soon as they hold. */
const UI_TIMEOUT_MS = 30_000;

// In Berlin's box, as the map shows it: the ride's pickup is 300 m from the first driver, the others kilometres away.
const PICKUP = { lat: 52.52, lng: 13.405 };
const DROPOFF = { lat: 52.5, lng: 13.44 };
const DRIVERS = {
  'map-d1': { lat: 52.5227, lng: 13.405 },
  'map-d2': { lat: 52.45, lng: 13.3 },
  'map-d3': { lat: 52.58, lng: 13.52 },
};
const RIDE_ID = 'map-ride-1';

let system: TestSystem;
let recorded: RecordedPage;
let page: Page;
let origin: URL;
/** The page's gateway, started again on its address after it was stopped. */
let restarted: RunningGateway | undefined;

beforeAll(async () => {
  system = await startSystem({ gateways: 2 });
  origin = new URL(system.gateways[0].url);
  recorded = await openRecordedPage('map.png', { width: 1280, height: 1000 });
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

async function ok(query: string, variables: Record<string, unknown>) {
  const result = await system.gql(query, variables);
  expect(result.errors).toBeUndefined();
  return result.data;
}

const driver = (id: string) => page.locator(`svg.city circle.driver[data-driver-id="${id}"]`);
const attribute = (id: string, name: string) => driver(id).getAttribute(name);

describe('the live rides map', () => {
  it('shows the drivers online and the requested ride, by status', async () => {
    for (const [driverId, location] of Object.entries(DRIVERS)) await ok(GO_ONLINE, { driverId, location });
    await ok(REQUEST, { input: { id: RIDE_ID, riderId: 'map-rider', pickup: PICKUP, dropoff: DROPOFF } });
    await expect.poll(async () => (await system.gql(RIDE, { id: RIDE_ID })).data?.ride, { timeout: UI_TIMEOUT_MS })
      .toEqual({ state: 'DRIVER_ASSIGNED', driverId: 'map-d1' });

    await page.goto(new URL('/app#map', origin).href);
    for (const id of Object.keys(DRIVERS)) await driver(id).waitFor({ timeout: UI_TIMEOUT_MS });
    await expect.poll(() => page.locator('.status').innerText(), { timeout: UI_TIMEOUT_MS }).toBe('live');
    expect(await attribute('map-d1', 'data-status')).toBe('ON_RIDE');
    expect(await attribute('map-d1', 'class')).toContain('on-ride');
    expect(await attribute('map-d2', 'data-status')).toBe('AVAILABLE');
    expect(await attribute('map-d2', 'class')).toContain('available');
    expect(Number(await attribute('map-d2', 'data-lat'))).toBe(DRIVERS['map-d2'].lat);

    const ride = page.locator(`svg.city g.ride[data-ride-id="${RIDE_ID}"]`);
    await ride.waitFor({ timeout: UI_TIMEOUT_MS });
    expect(await ride.getAttribute('data-state')).toBe('DRIVER_ASSIGNED');
    expect(await ride.getAttribute('data-driver-id')).toBe('map-d1');
    expect(Number(await ride.locator('.pickup').getAttribute('data-lat'))).toBe(PICKUP.lat);
    expect(Number(await ride.locator('.dropoff').getAttribute('data-lng'))).toBe(DROPOFF.lng);
    expect(await page.locator('.counts').innerText()).toMatch(/2 available.*1 on a ride.*1 open ride/s);

    // One subscription for the whole city, over the page's graphql-ws socket.
    const subscribes = recorded.sent.filter((m) => m.type === 'subscribe');
    expect(subscribes.map((m) => m.payload.query.match(/\{\s*(\w+)/)?.[1])).toEqual(['cityUpdated']);
    expect(subscribes[0].payload.variables).toEqual({ box: { south: 52.4, west: 13.2, north: 52.62, east: 13.6 } });
  });

  it('moves a driver after updateDriverLocation, without a reload', async () => {
    const navigations = recorded.requested.filter((url) => new URL(url).pathname === '/app').length;
    const before = { cx: Number(await attribute('map-d2', 'cx')), cy: Number(await attribute('map-d2', 'cy')) };
    await ok(MOVE, { driverId: 'map-d2', location: { lat: 52.46, lng: 13.32 } });
    await expect.poll(async () => Number(await attribute('map-d2', 'data-lat')), { timeout: UI_TIMEOUT_MS }).toBe(52.46);
    expect(Number(await attribute('map-d2', 'data-lng'))).toBe(13.32);
    // North-east on the screen: right and up.
    expect(Number(await attribute('map-d2', 'cx'))).toBeGreaterThan(before.cx);
    expect(Number(await attribute('map-d2', 'cy'))).toBeLessThan(before.cy);

    // The assigned driver, approaching its pickup, moves too.
    await ok(MOVE, { driverId: 'map-d1', location: { lat: 52.521, lng: 13.405 } });
    await expect.poll(async () => Number(await attribute('map-d1', 'data-lat')), { timeout: UI_TIMEOUT_MS }).toBe(52.521);
    expect(await attribute('map-d1', 'data-status')).toBe('ON_RIDE');
    expect(recorded.requested.filter((url) => new URL(url).pathname === '/app').length).toBe(navigations);
  });

  it('takes a driver that goes offline off the map', async () => {
    await ok(GO_OFFLINE, { driverId: 'map-d3' });
    await expect.poll(() => driver('map-d3').count(), { timeout: UI_TIMEOUT_MS }).toBe(0);
    expect(await driver('map-d2').count()).toBe(1);
  });

  it('switches region: Hamburg\'s box and drivers, then Berlin\'s again', async () => {
    const HAMBURG_DRIVER = { lat: 53.55, lng: 10 };
    await ok(`mutation($id: ID!, $at: LocationInput!) { goOnline(driverId: $id, location: $at) { id } }`, { id: 'map-h1', at: HAMBURG_DRIVER });
    expect(await page.locator('nav.regions button.region').allTextContents()).toEqual(['berlin', 'hamburg', 'munich']);
    expect(await page.locator('button.region.selected').textContent()).toBe('berlin');
    await page.locator('button.region[data-region="hamburg"]').click();
    await expect.poll(() => page.locator('svg.city').getAttribute('data-box'), { timeout: UI_TIMEOUT_MS }).toBe('53.45,9.8,53.65,10.2');
    await expect.poll(() => driver('map-h1').count(), { timeout: UI_TIMEOUT_MS }).toBe(1);
    expect(Number(await attribute('map-h1', 'data-lat'))).toBe(HAMBURG_DRIVER.lat);
    expect(await driver('map-d2').count()).toBe(0);
    await page.locator('button.region[data-region="berlin"]').click();
    await expect.poll(() => driver('map-d2').count(), { timeout: UI_TIMEOUT_MS }).toBe(1);
    expect(await driver('map-h1').count()).toBe(0);
  });

  it('catches up without a reload after the server closed its socket: drivers moved and gone meanwhile show as on a fresh load', async () => {
    const navigations = recorded.requested.filter((url) => new URL(url).pathname === '/app').length;
    await system.gateways[0].stop();
    await expect.poll(() => page.locator('.status').innerText(), { timeout: UI_TIMEOUT_MS }).not.toBe('live');
    // Meanwhile, through another gateway: one driver moves, one comes online, one leaves.
    const via = system.gateways[1];
    for (const [query, variables] of [
      [MOVE, { driverId: 'map-d2', location: { lat: 52.47, lng: 13.35 } }],
      [GO_ONLINE, { driverId: 'map-d4', location: { lat: 52.55, lng: 13.45 } }],
      [GO_OFFLINE, { driverId: 'map-d2' }],
      [GO_ONLINE, { driverId: 'map-d5', location: { lat: 52.42, lng: 13.25 } }],
      [MOVE, { driverId: 'map-d5', location: { lat: 52.43, lng: 13.26 } }],
    ] as const) {
      expect((await system.gql(query, variables, via)).errors).toBeUndefined();
    }
    restarted = await startGateway({ port: Number(origin.port), host: '127.0.0.1', commandTimeoutMs: 20_000 });
    await expect.poll(() => page.locator('.status').innerText(), { timeout: UI_TIMEOUT_MS }).toBe('live');
    const fresh = await page.context().browser()!.newPage({ viewport: { width: 1280, height: 1000 } }); // nothing shared with the page under test
    try {
      await fresh.goto(new URL('/app#map', origin).href);
      await fresh.locator('svg.city circle.driver[data-driver-id="map-d5"]').waitFor({ timeout: UI_TIMEOUT_MS });
      const shown = (p: Page) => p.locator('svg.city circle.driver').evaluateAll((circles) => circles
        .map((c) => [c.getAttribute('data-driver-id'), c.getAttribute('data-status'), c.getAttribute('data-lat'), c.getAttribute('data-lng')])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
      const expected = await shown(fresh);
      expect(expected.map(([id]) => id)).toEqual(['map-d1', 'map-d4', 'map-d5']);
      expect(expected.find(([id]) => id === 'map-d5')?.slice(2)).toEqual(['52.43', '13.26']);
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
