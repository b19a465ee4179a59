/**
 * The rides domain on the log: drivers streaming positions, riders hailing rides, and one dispatcher deciding
 * every assignment against the whole city. One process hosts the dispatcher, its projection and its clock.
 */
import type { DomainRuntime } from '../shared/process.ts';
import { clockTicked, ridesContract } from './contract.ts';
import { dispatchService } from './dispatch/handler.ts';
import { ridesProjection } from './projections/rides.ts';

/** How often the clock ticks, in ms: the resolution of request timeouts. */
const CLOCK_EVERY_MS = 1_000;

const rides: DomainRuntime = {
  contract: ridesContract,
  services: [dispatchService],
  projections: [ridesProjection],
  tickers: { dispatch: [{ everyMs: CLOCK_EVERY_MS, tick: clockTicked }] },
};
export default rides;
