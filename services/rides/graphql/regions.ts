/**
 * Which region a command belongs to, as the gateway tells the dispatcher (every command names its region, so it is
 * decided where the region's state is), and the `regions` query (./regions.graphql).
 */
import type { Driver, Ride } from '../../../generated/prisma/client.ts';
import { SystemError } from '../../shared/errors.ts';
import { rideRegions } from '../config.ts';
import { LEGACY_REGION, type Location } from '../contract.ts';
import { regionContaining, regionOfDriver, type Region } from '../regions.ts';

const describe = (r: Region) => `${r.id} (${r.south}–${r.north} N, ${r.west}–${r.east} E)`;

/** The region of a pickup; BAD_USER_INPUT, naming the regions, outside every one. */
export function pickupRegion(field: string, pickup: Location): string {
  const regions = rideRegions();
  const region = regionContaining(regions, pickup);
  if (!region) {
    throw new SystemError('BAD_USER_INPUT', `${field} (${pickup.lat}, ${pickup.lng}) lies outside every region rides run in: ` +
      `request a pickup in ${regions.map(describe).join(', ')} (query regions for them)`, false, { field, regions: regions.map((r) => r.id) });
  }
  return region.id;
}

/** The region a ride was requested in, from its pickup (none for a ride not projected: the dispatcher answers NOT_FOUND). */
export function rideRegion(ride: Pick<Ride, 'pickupLat' | 'pickupLng'> | null): string {
  return (ride && regionContaining(rideRegions(), { lat: ride.pickupLat, lng: ride.pickupLng })?.id) ?? LEGACY_REGION;
}

/**
 * The region of a driver: while online, the one it went online in (its positions go there, wherever it drives,
 * until it goes offline); otherwise the one its new position `at` belongs to (the nearest outside every box).
 */
export function driverRegion(driver: Pick<Driver, 'status' | 'region'> | null, at?: Location): string {
  if (driver && driver.status !== 'OFFLINE') return driver.region ?? LEGACY_REGION;
  if (at) return regionOfDriver(rideRegions(), at).id;
  return driver?.region ?? LEGACY_REGION;
}

export const regionsQuery = () => rideRegions().map(({ id, ...box }) => ({ id, box }));
