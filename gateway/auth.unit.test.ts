/**
 * Token verification (./auth.ts): HS256 with a secret, and a JSON Web Key Set served over HTTP, as an identity
 * provider would. Every refusal is UNAUTHENTICATED with the reason; an unreachable key set is UNAVAILABLE.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator, MAX_TOKEN_BYTES, signToken, type AuthConfig } from './auth.ts';

const SECRET = 'a-test-secret-of-at-least-32-characters';
const config: AuthConfig = { secret: SECRET, generatedSecret: false };
const now = () => Math.floor(Date.now() / 1000);

/** A token signed with `secret`, its claims as given (no defaults but the algorithm). */
function hs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await promise.then(() => undefined, (e: { code: string; message: string }) => e);
  expect(error, 'expected a refusal').toBeDefined();
  return error!;
}

describe('HS256 tokens', () => {
  const auth = createAuthenticator(config);

  it('verifies a token it signed into the viewer: sub, known roles, expiry', async () => {
    const token = await signToken({ sub: 'alice', roles: ['customer', 'rider'], ttlSeconds: 60 }, config);
    const viewer = await auth.fromAuthorization(`Bearer ${token}`);
    expect(viewer).toEqual({ sub: 'alice', roles: ['customer', 'rider'], expiresAt: expect.any(Date) });
    expect(viewer!.expiresAt.getTime() / 1000).toBeCloseTo(now() + 60, -1);
  });

  it('is anonymous without an authorization value, and refuses one that is not a bearer token', async () => {
    expect(await auth.fromAuthorization(undefined)).toBeUndefined();
    expect(await auth.fromAuthorization('')).toBeUndefined();
    expect(await refusal(auth.fromAuthorization('Basic YTpi'))).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/must be "Bearer <token>"/) });
    expect(await refusal(auth.fromAuthorization({ token: 'x' }))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('remembers a verified token, yet refuses it once it expires', async () => {
    // Two seconds, not one: `exp` counts whole seconds, so `now() + 1` may already be past by the first verify.
    const token = await hs256({ sub: 'alice', roles: ['customer'], exp: now() + 2 });
    const first = await auth.verify(token);
    expect(await auth.verify(token)).toBe(first); // the second use is not verified again
    await new Promise((resolve) => setTimeout(resolve, first.expiresAt.getTime() - Date.now() + 10));
    expect(await refusal(auth.verify(token))).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/expired/) });
  });

  it('refuses an expired token', async () => {
    const token = await hs256({ sub: 'alice', roles: ['customer'], exp: now() - 5 });
    expect(await refusal(auth.verify(token))).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/expired/) });
  });

  it('refuses a token signed with another secret', async () => {
    const token = await hs256({ sub: 'alice', roles: ['admin'], exp: now() + 60 }, 'another-secret-another-secret-another');
    expect(await refusal(auth.verify(token))).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/signature/) });
  });

  it('refuses a token without exp, without sub, or without a roles list', async () => {
    for (const claims of [{ sub: 'alice', roles: ['customer'] }, { roles: ['customer'], exp: now() + 60 }, { sub: 'alice', exp: now() + 60 }, { sub: 'alice', roles: 'admin', exp: now() + 60 }]) {
      expect(await refusal(auth.verify(await hs256(claims))), JSON.stringify(claims)).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it('ignores roles it does not know: they grant nothing', async () => {
    const viewer = await auth.verify(await hs256({ sub: 'alice', roles: ['superuser', 'customer'], exp: now() + 60 }));
    expect(viewer.roles).toEqual(['customer']);
  });

  it('refuses a sub with characters no id may hold: controls, invisible format characters, line separators', async () => {
    for (const [sub, named] of [['ali\u0007ce', /control character U\+0007/], ['admin\u202e', /format character U\+202E/], ['al\u200bice', /format character U\+200B/], ['a\u2028b', /line separator U\+2028/]] as const) {
      const token = await hs256({ sub, roles: ['customer'], exp: now() + 60 });
      expect(await refusal(auth.verify(token)), JSON.stringify(sub)).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(named) });
    }
    expect(await auth.verify(await hs256({ sub: 'zoë-ünïcödé-€', roles: ['customer'], exp: now() + 60 }))).toMatchObject({ sub: 'zoë-ünïcödé-€' });
  });

  it('refuses a token over MAX_TOKEN_BYTES before parsing it', async () => {
    const huge = await hs256({ sub: 'alice', roles: ['customer'], exp: now() + 60, padding: 'x'.repeat(MAX_TOKEN_BYTES) });
    expect(await refusal(auth.verify(huge))).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/longer than 8192/) });
  });

  it('refuses alg none and another algorithm than HS256', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'alice', roles: ['admin'], exp: now() + 60 })).toString('base64url');
    expect(await refusal(auth.verify(`${header}.${body}.`))).toMatchObject({ code: 'UNAUTHENTICATED' });
    const hs512 = await new SignJWT({ sub: 'alice', roles: ['admin'], exp: now() + 60 }).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(SECRET));
    expect(await refusal(auth.verify(hs512))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('checks issuer and audience when they are configured', async () => {
    const strict = createAuthenticator({ ...config, issuer: 'https://id.example', audience: 'gateway' });
    const good = await signToken({ sub: 'alice', roles: ['customer'], ttlSeconds: 60 }, { ...config, issuer: 'https://id.example', audience: 'gateway' });
    expect((await strict.verify(good)).sub).toBe('alice');
    const wrongIssuer = await signToken({ sub: 'alice', roles: ['customer'], ttlSeconds: 60 }, { ...config, issuer: 'https://evil.example', audience: 'gateway' });
    expect(await refusal(strict.verify(wrongIssuer))).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/iss/) });
    const wrongAudience = await signToken({ sub: 'alice', roles: ['customer'], ttlSeconds: 60 }, { ...config, issuer: 'https://id.example', audience: 'other' });
    expect(await refusal(strict.verify(wrongAudience))).toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/aud/) });
    const none = await signToken({ sub: 'alice', roles: ['customer'], ttlSeconds: 60 }, config);
    expect(await refusal(strict.verify(none))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});

describe('a JSON Web Key Set (JWT_JWKS_URL)', () => {
  let server: Server;
  let jwksUrl: string;
  let sign: (claims: Record<string, unknown>) => Promise<string>;
  let requests = 0;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    server = createServer((_req, res) => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'key-1' }).setIssuer('https://id.example').setAudience('gateway').sign(privateKey);
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('verifies a provider\'s token with the key set, and checks issuer and audience', async () => {
    const auth = createAuthenticator({ jwksUrl, issuer: 'https://id.example', audience: 'gateway', generatedSecret: false });
    const viewer = await auth.fromAuthorization(`Bearer ${await sign({ sub: 'driver-7', roles: ['driver'], exp: now() + 60 })}`);
    expect(viewer).toMatchObject({ sub: 'driver-7', roles: ['driver'] });
    expect(requests).toBeGreaterThan(0);
    const other = createAuthenticator({ jwksUrl, audience: 'someone-else', generatedSecret: false });
    expect(await refusal(other.verify(await sign({ sub: 'driver-7', roles: ['driver'], exp: now() + 60 })))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('refuses an HS256 token signed with a secret: only the provider\'s keys count', async () => {
    const auth = createAuthenticator({ jwksUrl, generatedSecret: false });
    expect(await refusal(auth.verify(await hs256({ sub: 'alice', roles: ['admin'], exp: now() + 60 })))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('answers UNAVAILABLE, not UNAUTHENTICATED, when the key set cannot be read', async () => {
    const auth = createAuthenticator({ jwksUrl: 'http://127.0.0.1:1/jwks.json', generatedSecret: false });
    expect(await refusal(auth.verify(await sign({ sub: 'driver-7', roles: ['driver'], exp: now() + 60 })))).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('cannot sign tokens: they come from the provider', async () => {
    await expect(signToken({ sub: 'a', roles: ['admin'], ttlSeconds: 60 }, { jwksUrl, generatedSecret: false })).rejects.toThrow(/identity provider/);
  });
});
