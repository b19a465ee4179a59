/**
 * Who is asking, and the generic pieces every domain's policy (services/<domain>/graphql/policy.ts) decides
 * with: the viewer of an operation, role checks and the two refusals. It names no domain; each domain's policy
 * says which of its operations need which role and which records are whose.
 *
 * Public surface: `Viewer`, `Role`, `RoleRegistry`, `requireRole`, `isAdmin`, `actorOf`, `unauthenticated`,
 * `forbidden`, `notFound`.
 */
import { SystemError } from '../errors.ts';
import type { Actor } from '../messages.ts';

/**
 * The roles the domains grant, registered by services/domains.ts (`declare module`, as `{ domains: DomainRole }`):
 * this kit may not import the domains, yet a policy naming a role no contract grants must still fail the build.
 * The list a token's roles are checked against, `ROLES`, is derived there too.
 */
export interface RoleRegistry {}
export type Role = (RoleRegistry extends { domains: infer R extends string } ? R : string) | 'admin';

/** A verified user: the token's `sub`, its known roles, and when the token expires. Anonymous: undefined. */
export interface Viewer {
  sub: string;
  roles: Role[];
  expiresAt: Date;
}

const HOW_TO_GET_ONE = 'send `Authorization: Bearer <token>` (over graphql-ws: connection_init payload {"authorization": "Bearer <token>"}); `npm run -s token -- --sub <id> --roles <role>` prints one';

/** No token, or one that is not valid: the client must sign in (HTTP 401; over graphql-ws, close 4401). */
export function unauthenticated(reason: string): SystemError {
  return new SystemError('UNAUTHENTICATED', `${reason}: ${HOW_TO_GET_ONE}`);
}

/** A signed-in user doing what its roles do not allow. */
export function forbidden(message: string): SystemError {
  return new SystemError('FORBIDDEN', message);
}

/** What another user's private record reads as when an operation answers with an error rather than null. */
export function notFound(message: string): SystemError {
  return new SystemError('NOT_FOUND', message);
}

export const isAdmin = (viewer: Viewer): boolean => viewer.roles.includes('admin');

/**
 * The viewer, when it is signed in and has one of `roles` (admin may do everything): UNAUTHENTICATED for
 * anonymous, FORBIDDEN for a user without the role. `what` names the operation in the message.
 */
export function requireRole(viewer: Viewer | undefined, roles: readonly Role[], what: string): Viewer {
  if (!viewer) throw unauthenticated(`${what} needs a signed-in user`);
  if (isAdmin(viewer) || roles.some((role) => viewer.roles.includes(role))) return viewer;
  const allowed = [...roles, 'admin'].join(' or ');
  throw forbidden(`${what} is for ${allowed}; this token's roles: ${viewer.roles.join(', ') || 'none'}`);
}

/** The viewer as it travels in a command's envelope (`actor`), so services can refuse too and the log says who. */
export const actorOf = (viewer: Viewer | undefined): Actor | undefined => viewer && { sub: viewer.sub, roles: [...viewer.roles] };
