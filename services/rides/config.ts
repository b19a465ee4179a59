/** The rides domain's settings, read from the environment. */
import { envInteger } from '../shared/config.ts';

/**
 * How long a requested ride waits for a driver before it is cancelled (reason `timeout`), in milliseconds.
 * Read by the gateway when a ride is requested (the ride carries its expiry). Default: 120000.
 */
export const rideRequestTimeoutMs = (): number => envInteger('RIDE_REQUEST_TIMEOUT_MS', 120_000);
