/**
 * The one list of the system's domains. Each is a folder under services/ with the same layout:
 * `contract.ts` (topics, messages, error codes, consumer groups), `index.ts` (its services and projections:
 * a DomainRuntime), `graphql/` (its slice of the API) and its tests. Adding a domain is adding it here.
 * This file imports contracts only, so the gateway may import it; services/runtimes.ts loads the rest.
 */
import type { AnyContract } from './shared/messages.ts';
import { ordersContract } from './orders/contract.ts';
import { ratingsContract } from './ratings/contract.ts';
import { ridesContract } from './rides/contract.ts';

export const DOMAINS: readonly AnyContract[] = [ordersContract, ratingsContract, ridesContract];

/** The names of every service process, from the contracts alone (no service code loaded). */
export const SERVICE_NAMES: readonly string[] = DOMAINS.flatMap((contract) => contract.services.map((s) => s.name));
