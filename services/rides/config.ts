/** The rides domain's settings, read from the environment. */
import { partitionOfKey } from '../shared/bus.ts';
import { envInteger, topicPartitions } from '../shared/config.ts';
import { DEFAULT_REGIONS, parseRegions, regionKey, type Region } from './regions.ts';

/**
 * How long a requested ride waits for a driver before it is cancelled (reason `timeout`), in milliseconds.
 * Read by the gateway when a ride is requested (the ride carries its expiry). Default: 120000.
 */
export const rideRequestTimeoutMs = (): number => envInteger('RIDE_REQUEST_TIMEOUT_MS', 120_000);

let parsed: { raw: string | undefined; regions: readonly Region[]; keys: Map<string, string> } | undefined;

/**
 * The regions rides run in, from `RIDE_REGIONS`: `id=south,west,north,east` entries separated by `;`, in degrees
 * (e.g. `berlin=52.40,13.20,52.62,13.60;hamburg=53.45,9.80,53.65,10.20`), boxes that do not overlap. Default:
 * Berlin, Hamburg and Munich (regions.ts). Every process must be given the same list, in the same order: a region's
 * place in it chooses its partition. Refused with the reason at start (gateway and dispatcher).
 */
export function rideRegions(): readonly Region[] {
  const raw = process.env.RIDE_REGIONS || undefined;
  if (!parsed || parsed.raw !== raw) parsed = { raw, regions: raw === undefined ? DEFAULT_REGIONS : parseRegions(raw), keys: new Map() };
  return parsed!.regions;
}

/** The key a region's dispatch state and messages are placed by (regions.ts, `regionKey`), for TOPIC_PARTITIONS. */
export function regionStateKey(region: string): string {
  const regions = rideRegions();
  const partitions = topicPartitions();
  const keys = parsed!.keys;
  const memo = `${partitions}:${region}`;
  let key = keys.get(memo);
  if (key === undefined) keys.set(memo, (key = regionKey(regions, region, partitions, partitionOfKey)));
  return key;
}
