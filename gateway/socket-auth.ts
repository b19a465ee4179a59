/**
 * Who is asking on a graphql-ws socket, settled once per socket from the `connection_init` payload
 * `{ "authorization": "Bearer <jwt>" }`: no token is an anonymous socket; an invalid token, an operation that needs a
 * user on an anonymous socket, and the token's expiry while the socket is open close it with 4401.
 */
import type { GraphQLFormattedError } from 'graphql';
import { GraphQLError } from 'graphql/index.js';
import type { WebSocket } from 'ws';
import { SystemError } from '../services/shared/errors.ts';
import type { Viewer } from '../services/shared/graphql/index.ts';
import type { Authenticator } from './auth.ts';

/** The close code of a socket without a valid token for what it asked (graphql-ws's Unauthorized). */
export const UNAUTHORIZED_CLOSE = 4401;
/** setTimeout's longest delay: a token valid for longer is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const closeUnauthorized = (socket: WebSocket, reason: string) =>
  socket.close(UNAUTHORIZED_CLOSE, reason.slice(0, 120)); // a close reason has at most 123 bytes

export function socketAuthentication(authenticator: Authenticator) {
  const viewers = new WeakMap<WebSocket, Viewer>();

  /** Closes the socket when its token expires. */
  const watchExpiry = (socket: WebSocket, viewer: Viewer) => {
    const left = viewer.expiresAt.getTime() - Date.now();
    const timer = setTimeout(() => {
      if (Date.now() >= viewer.expiresAt.getTime()) closeUnauthorized(socket, 'Unauthorized: the token expired');
      else watchExpiry(socket, viewer);
    }, Math.min(Math.max(0, left), MAX_TIMER_MS));
    socket.once('close', () => clearTimeout(timer));
  };

  return {
    viewerOf: (socket: WebSocket) => viewers.get(socket),
    /** graphql-ws's onConnect: false (the socket closed) for a token that is invalid or cannot be checked now. */
    async connect(socket: WebSocket, params: Record<string, unknown> = {}): Promise<boolean> {
      // The contract's key is `authorization`; GraphiQL sends its headers as they are named (`Authorization`).
      const key = Object.keys(params).find((name) => name.toLowerCase() === 'authorization');
      try {
        const viewer = await authenticator.fromAuthorization(key === undefined ? undefined : params[key]);
        if (!viewer) return true; // anonymous: only anonymous operations will run
        viewers.set(socket, viewer);
        watchExpiry(socket, viewer);
        return true;
      } catch (error) {
        if (error instanceof SystemError && error.code === 'UNAVAILABLE') socket.close(1013, 'the token could not be checked now: retry later');
        else closeUnauthorized(socket, `Unauthorized: ${(error as Error).message}`);
        return false;
      }
    },
    /** The error for an operation on a socket whose token has expired (the expiry timer may not have fired yet), closing it. */
    expired(socket: WebSocket): GraphQLError[] | undefined {
      const viewer = viewers.get(socket);
      if (!viewer || viewer.expiresAt.getTime() > Date.now()) return undefined;
      closeUnauthorized(socket, 'Unauthorized: the token expired');
      return [new GraphQLError('the token expired', { extensions: { code: 'UNAUTHENTICATED' } })];
    },
    /** An operation that needs a user on a socket without one is answered, then the socket closed with 4401. */
    closeIfUnauthenticated(socket: WebSocket, errors: GraphQLFormattedError[]): GraphQLFormattedError[] {
      const refusal = errors.find((error) => error.extensions?.code === 'UNAUTHENTICATED');
      // After the answer is on its way: graphql-ws sends it once this hook returns.
      if (refusal) setImmediate(() => closeUnauthorized(socket, `Unauthorized: ${refusal.message}`));
      return errors;
    },
  };
}
