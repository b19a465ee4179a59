import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../scripts/simulate-rides.ts';
import { applyCityUpdate, BERLIN, distanceKm, EMPTY_CITY, project, randomNear, stepToward, type DriverView, type RideView } from './city.ts';

const driver = (id: string, lat: number, updatedAt: string, status: DriverView['status'] = 'AVAILABLE'): DriverView =>
  ({ id, status, location: { lat, lng: 13.4 }, updatedAt });
const ride = (id: string, state: RideView['state'], updatedAt: string): RideView => ({
  id, riderId: 'r', driverId: null, state, pickup: { lat: 52.5, lng: 13.4 }, dropoff: { lat: 52.51, lng: 13.41 },
  driverLocation: null, requestedAt: updatedAt, updatedAt,
});

describe('the rides map state', () => {
  it('keeps the newer version of a driver, whatever the order updates arrive in', () => {
    const moved = applyCityUpdate(EMPTY_CITY, { drivers: [driver('d', 52.5, '2026-01-01T00:00:02Z')], rides: [] }, BERLIN);
    const late = applyCityUpdate(moved, { drivers: [driver('d', 52.45, '2026-01-01T00:00:01Z')], rides: [] }, BERLIN);
    expect(late.drivers.get('d')?.location?.lat).toBe(52.5);
  });

  it('drops offline drivers, drivers outside the box and ended rides', () => {
    const city = applyCityUpdate(EMPTY_CITY, { drivers: [driver('a', 52.5, 't1'), driver('b', 52.5, 't1')], rides: [ride('r', 'REQUESTED', '2026-01-01T00:00:00Z')] }, BERLIN);
    const next = applyCityUpdate(city, {
      drivers: [driver('a', 52.5, '2026-01-01T00:00:05Z', 'OFFLINE'), driver('b', 53.5, '2026-01-01T00:00:05Z')],
      rides: [ride('r', 'COMPLETED', '2026-01-01T00:00:05Z')],
    }, BERLIN);
    expect([...next.drivers.keys()]).toEqual([]);
    expect([...next.rides.keys()]).toEqual([]);
  });

  it('draws north up and east right', () => {
    expect(project({ lat: BERLIN.north, lng: BERLIN.west }, BERLIN, 100, 50)).toEqual({ x: 0, y: 0 });
    expect(project({ lat: BERLIN.south, lng: BERLIN.east }, BERLIN, 100, 50)).toEqual({ x: 100, y: 50 });
  });
});

describe('the simulator', () => {
  it('moves a set distance toward its target, and stops on it', () => {
    const from = { lat: 52.5, lng: 13.4 };
    const to = { lat: 52.52, lng: 13.43 };
    expect(distanceKm(from, stepToward(from, to, 0.5))).toBeCloseTo(0.5, 2);
    expect(stepToward(from, to, 100)).toEqual(to);
  });

  it('keeps trips inside the box', () => {
    for (let i = 0; i < 100; i += 1) {
      const p = randomNear({ lat: BERLIN.north, lng: BERLIN.east }, 0.5, 3, BERLIN);
      expect(p.lat).toBeLessThanOrEqual(BERLIN.north);
      expect(p.lng).toBeLessThanOrEqual(BERLIN.east);
    }
  });

  it('reads its flags, and refuses bad ones', () => {
    expect(parseOptions(['--drivers', '5', '--seconds', '2.5'], {})).toMatchObject({ drivers: 5, riders: 30, seconds: 2.5, speedKmh: 40, url: 'http://localhost:4000/graphql' });
    expect(parseOptions(['--help'], {})).toBe('help');
    expect(() => parseOptions(['--drivers', 'many'], {})).toThrow(/--drivers/);
    expect(() => parseOptions(['--riders', '1.5'], {})).toThrow(/integer/);
    expect(() => parseOptions(['--nope'], {})).toThrow();
  });
});
