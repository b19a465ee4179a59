/**
 * The live rides map at /app#map, bundled with the rest of the app (./page.ts): one region's box at a time (a switch
 * lists the gateway's `regions`) drawn in SVG (no map tiles: the page works offline), drivers coloured by status and
 * open rides' pickup and dropoff, all from one `cityUpdated(box)` subscription on the page's graphql-ws socket.
 * Each SVG element carries its ids and position in data- attributes, for tests and for anyone inspecting the page.
 * Beyond CANVAS_FROM drivers, thousands of SVG elements re-rendered four times a second stutter: drivers are then
 * painted on a canvas under the SVG (rides stay SVG elements: a few hundred at most).
 */
import type { Client } from 'graphql-ws';
import { createElement as h, useEffect, useRef, useState } from 'react';
import {
  applyCityUpdate, aspectOf, BERLIN, CITY_UPDATED, EMPTY_CITY, project, REGIONS,
  type Box, type CityState, type CityUpdate, type DriverView, type LatLng, type RegionView,
} from './city.ts';

/** From this many drivers on, they are painted on a canvas rather than drawn as SVG elements. */
export const CANVAS_FROM = 1000;
const COLOURS = { AVAILABLE: '#2e9e4f', ON_RIDE: '#e8821e' };

const HEIGHT = 700;
const GRID_DEGREES = 0.05;

type Status = 'connecting' | 'live' | 'reconnecting';

/** The regions the gateway serves (anyone may ask), or Berlin alone when it cannot say. */
async function loadRegions(endpoint: string): Promise<RegionView[]> {
  const response = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: REGIONS }) });
  const { data } = (await response.json()) as { data?: { regions: RegionView[] } };
  return data?.regions.length ? data.regions : [{ id: 'berlin', box: BERLIN }];
}

export function CityMap({ client, endpoint }: { client: Client; endpoint: string }) {
  const [regions, setRegions] = useState<RegionView[]>([{ id: 'berlin', box: BERLIN }]);
  const [regionId, setRegionId] = useState('berlin');
  useEffect(() => {
    loadRegions(endpoint).then((found) => {
      setRegions(found);
      setRegionId((current) => (found.some((r) => r.id === current) ? current : found[0].id));
    }, () => {});
  }, [endpoint]);
  const region = regions.find((r) => r.id === regionId) ?? regions[0];
  // A new city per region: the subscription restarts with everything in the new box.
  return h(RegionMap, { key: region.id, client, box: region.box, regions, region: region.id, onRegion: setRegionId });
}

interface RegionMapProps {
  client: Client;
  box: Box;
  regions: RegionView[];
  region: string;
  onRegion(id: string): void;
}

function RegionMap({ client, box, regions, region, onRegion }: RegionMapProps) {
  const [city, setCity] = useState<CityState>(EMPTY_CITY);
  const [status, setStatus] = useState<Status>('connecting');
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    // After a reconnect the subscription starts again with everything in the box: that first update replaces what
    // the map showed (a driver that went offline meanwhile is in no update), and the ones after it change it.
    let snapshot = true;
    const offConnected = client.on('connected', () => {
      snapshot = true;
      setStatus('live');
    });
    const offClosed = client.on('closed', () => setStatus('reconnecting'));
    const stop = client.subscribe<{ cityUpdated: CityUpdate }>(
      { query: CITY_UPDATED, variables: { box } },
      {
        next: ({ data, errors }) => {
          if (errors?.length) return setError(errors.map((e) => e.message).join('; '));
          if (data) {
            const from = snapshot ? EMPTY_CITY : undefined;
            snapshot = false;
            setCity((state) => applyCityUpdate(from ?? state, data.cityUpdated, box));
          }
          setError(undefined);
        },
        error: (e) => setError(e instanceof Error ? e.message : 'the city subscription failed; reload the page'),
        complete: () => {},
      },
    );
    return () => {
      stop();
      offConnected();
      offClosed();
    };
    // By value: the regions loaded from the server give Berlin's box again as a new object, which is no new box.
  }, [`${box.south},${box.west},${box.north},${box.east}`]);

  const drivers = [...city.drivers.values()];
  const available = drivers.filter((d) => d.status === 'AVAILABLE').length;
  return h(
    'main',
    { className: 'map' },
    h('header', null, h('h1', null, 'Rides live'), h('span', { className: `status ${status}`, role: 'status' }, status)),
    h(
      'nav',
      { className: 'regions', 'aria-label': 'Regions' },
      regions.map((r) => h('button', {
        key: r.id, type: 'button', className: r.id === region ? 'region selected' : 'region', 'data-region': r.id,
        'aria-pressed': r.id === region, onClick: () => onRegion(r.id),
      }, r.id)),
    ),
    error ? h('p', { className: 'error', role: 'alert' }, error) : null,
    h(
      'p',
      { className: 'counts' },
      h('span', { className: 'legend available' }, `${available} available`),
      h('span', { className: 'legend on-ride' }, `${drivers.length - available} on a ride`),
      h('span', { className: 'legend pickup' }, `${city.rides.size} open ride${city.rides.size === 1 ? '' : 's'} (pickup ● → dropoff ■)`),
    ),
    h(CitySvg, { city, box }),
  );
}

function CitySvg({ city, box }: { city: CityState; box: Box }) {
  const width = Math.round(HEIGHT * aspectOf(box));
  const at = (point: LatLng) => project(point, box, width, HEIGHT);
  const grid = [];
  // Inner lines only: the box's own edges carry no label, so the corner stays readable.
  for (let lat = (Math.floor(box.south / GRID_DEGREES + 1e-9) + 1) * GRID_DEGREES; lat < box.north - 1e-9; lat += GRID_DEGREES) {
    const y = at({ lat, lng: box.west }).y;
    grid.push(h('line', { key: `lat${lat}`, className: 'grid', x1: 0, x2: width, y1: y, y2: y }));
    grid.push(h('text', { key: `latt${lat}`, className: 'grid-label', x: 4, y: y - 3 }, `${lat.toFixed(2)}° N`));
  }
  for (let lng = (Math.floor(box.west / GRID_DEGREES + 1e-9) + 1) * GRID_DEGREES; lng < box.east - 1e-9; lng += GRID_DEGREES) {
    const x = at({ lat: box.south, lng }).x;
    grid.push(h('line', { key: `lng${lng}`, className: 'grid', x1: x, x2: x, y1: 0, y2: HEIGHT }));
    grid.push(h('text', { key: `lngt${lng}`, className: 'grid-label', x: x + 3, y: HEIGHT - 4 }, `${lng.toFixed(2)}° E`));
  }
  const rides = [...city.rides.values()].map((ride) => {
    const pickup = at(ride.pickup);
    const dropoff = at(ride.dropoff);
    // The driver's own latest position (cityUpdated sends drivers as they move, rides as their state changes).
    const driverAt = (ride.driverId ? city.drivers.get(ride.driverId)?.location : undefined) ?? ride.driverLocation;
    const driver = driverAt ? at(driverAt) : undefined;
    return h(
      'g',
      { key: ride.id, className: 'ride', 'data-ride-id': ride.id, 'data-state': ride.state, 'data-driver-id': ride.driverId ?? undefined },
      h('line', { className: 'trip', x1: pickup.x, y1: pickup.y, x2: dropoff.x, y2: dropoff.y }),
      driver && ride.state === 'DRIVER_ASSIGNED' ? h('line', { className: 'approach', x1: driver.x, y1: driver.y, x2: pickup.x, y2: pickup.y }) : null,
      h('circle', { className: 'pickup', cx: pickup.x, cy: pickup.y, r: 6, 'data-lat': ride.pickup.lat, 'data-lng': ride.pickup.lng }),
      h('rect', { className: 'dropoff', x: dropoff.x - 5, y: dropoff.y - 5, width: 10, height: 10, 'data-lat': ride.dropoff.lat, 'data-lng': ride.dropoff.lng }),
      h('title', null, `ride ${ride.id}: ${ride.state}`),
    );
  });
  const all = [...city.drivers.values()];
  const painted = all.length >= CANVAS_FROM;
  const drivers = painted ? [] : all.map((driver) => {
    const { x, y } = at(driver.location!);
    return h(
      'circle',
      {
        key: driver.id,
        className: `driver ${driver.status === 'ON_RIDE' ? 'on-ride' : 'available'}`,
        'data-driver-id': driver.id,
        'data-status': driver.status,
        'data-lat': driver.location!.lat,
        'data-lng': driver.location!.lng,
        cx: x,
        cy: y,
        r: 4.5,
      },
      h('title', null, `driver ${driver.id}: ${driver.status}`),
    );
  });
  const svg = h(
    'svg',
    {
      className: 'city',
      'data-drivers': painted ? 'canvas' : 'svg',
      viewBox: `0 0 ${width} ${HEIGHT}`,
      role: 'img',
      'aria-label': `Map of the city box ${box.south}–${box.north} N, ${box.west}–${box.east} E`,
      'data-box': `${box.south},${box.west},${box.north},${box.east}`,
    },
    h('rect', { className: 'box', x: 0, y: 0, width, height: HEIGHT }),
    ...grid,
    painted ? h('foreignObject', { x: 0, y: 0, width, height: HEIGHT }, h(DriverCanvas, { drivers: all, box, width })) : null,
    h('g', { className: 'rides' }, rides),
    h('g', { className: 'drivers' }, drivers),
  );
  return svg;
}

/** Thousands of drivers as dots on one canvas, repainted once per update (a few milliseconds for 5,000). */
function DriverCanvas({ drivers, box, width }: { drivers: DriverView[]; box: Box; width: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    const context = canvas?.getContext('2d');
    if (!canvas || !context) return;
    context.clearRect(0, 0, width, HEIGHT);
    for (const status of ['AVAILABLE', 'ON_RIDE'] as const) {
      context.fillStyle = COLOURS[status];
      context.beginPath();
      for (const driver of drivers) {
        if (driver.status !== status) continue;
        const { x, y } = project(driver.location!, box, width, HEIGHT);
        context.moveTo(x + 3, y);
        context.arc(x, y, 3, 0, 2 * Math.PI);
      }
      context.fill();
    }
  }, [drivers, box, width]);
  return h('canvas', { ref, className: 'drivers-canvas', width, height: HEIGHT, 'data-count': drivers.length });
}
