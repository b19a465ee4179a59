/**
 * Who is asking on a graphql-ws socket (./socket-auth.ts), with a socket and an authenticator of the test's own.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SystemError } from '../services/shared/errors.ts';
import type { Viewer } from '../services/shared/graphql/index.ts';
import type { Authenticator } from './auth.ts';
import { socketAuthentication, UNAUTHORIZED_CLOSE } from './socket-auth.ts';

/** A socket that records how it was closed. */
function fakeSocket() {
  const closes: [number, string][] = [];
  const socket = Object.assign(new EventEmitter(), { closes });
  Object.assign(socket, {
    close(code: number, reason: string) {
      closes.push([code, reason]);
      socket.emit('close');
    },
  });
  return socket as unknown as typeof socket & Parameters<ReturnType<typeof socketAuthentication>['connect']>[0];
}

const viewer = (expiresInMs: number): Viewer => ({ sub: 'u1', roles: [], expiresAt: new Date(Date.now() + expiresInMs) });
const authenticator = (answer: () => Promise<Viewer | undefined>): Authenticator => ({ fromAuthorization: answer }) as unknown as Authenticator;

afterEach(() => {
  vi.useRealTimers();
});

describe('socket authentication', () => {
  it('lets a socket without a token in as anonymous', async () => {
    const auth = socketAuthentication(authenticator(async () => undefined));
    const socket = fakeSocket();
    expect(await auth.connect(socket, {})).toBe(true);
    expect(auth.viewerOf(socket)).toBeUndefined();
    expect(socket.closes).toEqual([]);
  });

  it('takes the token under `authorization` whatever its case, and keeps the viewer for the socket', async () => {
    const seen: unknown[] = [];
    const who = viewer(60_000);
    const auth = socketAuthentication({ fromAuthorization: async (value: unknown) => (seen.push(value), who) } as unknown as Authenticator);
    const socket = fakeSocket();
    expect(await auth.connect(socket, { Authorization: 'Bearer t' })).toBe(true);
    expect(seen).toEqual(['Bearer t']);
    expect(auth.viewerOf(socket)).toBe(who);
    socket.close(1000, 'done'); // clears the expiry timer
  });

  it('closes a socket with an invalid token with 4401, one whose token cannot be checked now with 1013', async () => {
    const invalid = socketAuthentication(authenticator(async () => {
      throw new Error('bad signature');
    }));
    const refused = fakeSocket();
    expect(await invalid.connect(refused, { authorization: 'Bearer x' })).toBe(false);
    expect(refused.closes).toEqual([[UNAUTHORIZED_CLOSE, 'Unauthorized: bad signature']]);

    const unavailable = socketAuthentication(authenticator(async () => {
      throw new SystemError('UNAVAILABLE', 'the key set could not be fetched', true);
    }));
    const later = fakeSocket();
    expect(await unavailable.connect(later, { authorization: 'Bearer x' })).toBe(false);
    expect(later.closes).toEqual([[1013, 'the token could not be checked now: retry later']]);
  });

  it('closes the socket with 4401 when its token expires, and refuses its operations from then on', async () => {
    vi.useFakeTimers();
    const auth = socketAuthentication(authenticator(async () => viewer(1_000)));
    const socket = fakeSocket();
    await auth.connect(socket, { authorization: 'Bearer t' });
    expect(auth.expired(socket)).toBeUndefined();
    vi.advanceTimersByTime(1_000);
    expect(socket.closes).toEqual([[UNAUTHORIZED_CLOSE, 'Unauthorized: the token expired']]);
    expect(auth.expired(socket)).toEqual([expect.objectContaining({ message: 'the token expired', extensions: { code: 'UNAUTHENTICATED' } })]);
  });

  it('closes an anonymous socket with 4401 after answering an operation that needs a user', async () => {
    const auth = socketAuthentication(authenticator(async () => undefined));
    const socket = fakeSocket();
    const errors = [{ message: 'sign in first', extensions: { code: 'UNAUTHENTICATED' } }];
    expect(auth.closeIfUnauthenticated(socket, errors)).toBe(errors);
    expect(socket.closes).toEqual([]); // the answer goes out first
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.closes).toEqual([[UNAUTHORIZED_CLOSE, 'Unauthorized: sign in first']]);
    auth.closeIfUnauthenticated(socket, [{ message: 'not found', extensions: { code: 'NOT_FOUND' } }]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.closes).toHaveLength(1);
  });
});
