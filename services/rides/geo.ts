/** Great-circle distances on the Earth, for dispatch (decide) and for `driversNear` (same formula as its SQL). */
import type { Location } from './contract.ts';

/** The Earth's mean radius, in km. */
export const EARTH_RADIUS_KM = 6371.0088;

/** Haversine distance between two points, in km. */
export function distanceKm(a: Location, b: Location): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}
