/**
 * The one list of the system's domains: adding a domain is one line here. Each is a folder under services/ with
 * the same layout: `contract.ts` (topics, messages, error codes, roles, its services and projections by name),
 * `index.ts` (the code of those services and projections: a DomainRuntime), `graphql/` (its slice of the API).
 * Processes, consumer groups, npm scripts, containers, codegen targets and roles all follow from this list.
 * This file imports contracts only, so the gateway may import it; services/runtimes.ts loads the rest.
 */
import type { Role } from './shared/graphql/index.ts';
import type { AnyContract } from './shared/messages.ts';
import { ordersContract } from './orders/contract.ts';
import { ratingsContract } from './ratings/contract.ts';
import { ridesContract } from './rides/contract.ts';

export const DOMAINS = [ordersContract, ratingsContract, ridesContract] as const satisfies readonly AnyContract[];

/** The roles the domains' policies grant (the gateway adds `admin`). */
export type DomainRole = (typeof DOMAINS)[number]['roles'][number];

// The slice kit names no domain: its `Role` learns the domains' roles here.
declare module './shared/graphql/access.ts' {
  interface RoleRegistry {
    domains: DomainRole;
  }
}

/** The roles a token may carry (claim `roles`): those the domains' contracts grant, and admin. Any other is ignored. */
export const ROLES: readonly Role[] = [...new Set<Role>([...DOMAINS.flatMap((contract): readonly DomainRole[] => contract.roles), 'admin'])];

/** The names of every service process, from the contracts alone (no service code loaded). */
export const SERVICE_NAMES: readonly string[] = DOMAINS.flatMap((contract) => contract.services.map((s) => s.name));
