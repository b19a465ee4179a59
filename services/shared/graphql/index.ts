/**
 * The slice kit: the plugin interface between the gateway and the domains' GraphQL slices
 * (services/<domain>/graphql/), and the one thing both import. Dependencies point one way, runtime ← kit ← domains
 * ← manifest (services/domains.ts) ← gateway: a slice needs nothing from gateway/ (test/walls.unit.test.ts
 * forbids it), and the gateway knows a slice only as a `GraphQLSlice`.
 *
 * It sits beside the runtime in services/shared/, as each domain's slice sits in services/<domain>/graphql/:
 * like the runtime it names no domain and no gateway file (the same wall), and it knows neither HTTP nor
 * graphql-ws. The gateway implements the services it hands a slice (gateway/commands.ts, gateway/progress.ts).
 *
 * Public surface, all here:
 * - the slice and what it is given: `GraphQLSlice`, `StartedSlice`, `GatewayServices` (with `CommandGateway` and
 *   `ProjectionWatcher`), `ViewerContext`, `GatewayContext`;
 * - the viewer and the policy helpers: `Viewer`, `Role` (its domain roles registered by services/domains.ts),
 *   `requireRole`, `isAdmin`, `actorOf`, and the refusals `unauthenticated`, `forbidden`, `notFound`;
 * - the live queue a subscription returns: `createLiveQueue`, `LiveQueue`, and the gateway's side of it, `PUSH_TO`
 *   and `PushTarget`;
 * - the engines of live feeds: of one entity per key (`live-feed.ts`): `createLiveFeed`, `LiveFeed`, `LiveFeedDomain`,
 *   `FeedUpdate`, `FeedPosition`, `cursorOfUpdate`; of a query over many (`coalesced-view.ts`): `createCoalescedView`,
 *   `CoalescedView`.
 */
export {
  actorOf, forbidden, isAdmin, notFound, requireRole, unauthenticated, type Role, type RoleRegistry, type Viewer,
} from './access.ts';
export { createLiveQueue, PUSH_TO, type LiveQueue, type PushTarget } from './live-queue.ts';
export { createCoalescedView, type CoalescedView } from './coalesced-view.ts';
export { createLiveFeed, cursorOfUpdate, type FeedPosition, type FeedUpdate, type LiveFeed, type LiveFeedDomain } from './live-feed.ts';
export type {
  CommandGateway, GatewayContext, GatewayServices, GraphQLSlice, ProjectionWatcher, StartedSlice, ViewerContext,
} from './slice.ts';
