/**
 * The rides domain on the log: drivers streaming positions, riders hailing rides, and a dispatcher deciding every
 * assignment against its region. A dispatch process hosts the dispatcher, its projection and its clock; several
 * share the regions.
 */
import type { DomainRuntime } from '../shared/process.ts';
import { rideRegions } from './config.ts';
import { clockTicked, ridesContract } from './contract.ts';
import { dispatchService } from './dispatch/handler.ts';
import { driverPositionsProjection, ridesProjection } from './projections/rides.ts';

/** How often the clock ticks, in ms: the resolution of request timeouts. */
const CLOCK_EVERY_MS = 1_000;

// RIDE_REGIONS is checked as the domain loads, so a process with a bad list stops at start, saying why.
rideRegions();

const rides: DomainRuntime = {
  contract: ridesContract,
  services: [dispatchService],
  projections: [ridesProjection, driverPositionsProjection],
  // Each region's aggregate learns the time from its own tick.
  tickers: { dispatch: [{ everyMs: CLOCK_EVERY_MS, tick: (now) => rideRegions().map((region) => clockTicked(now, region.id)) }] },
};
export default rides;
