/**
 * Bearer tokens: verified with `jose` (HS256 with JWT_SECRET, or JWT_JWKS_URL's keys) into a `Viewer`, and signed
 * for the tools and tests. Without either, this machine's processes share a secret generated into `.data/jwt-secret`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { ROLES } from '../services/domains.ts';
import { SystemError } from '../services/shared/errors.ts';
import { unauthenticated, type Role, type Viewer } from '../services/shared/graphql/index.ts';
import { gatewayToken, jwtAudience, jwtIssuer, jwtJwksUrl, jwtSecret } from './config.ts';
import { unsafeCharacter } from './input-limits.ts';

/** A longer token is refused before it is parsed (an identity provider's tokens are a few kB at most). */
export const MAX_TOKEN_BYTES = 8192;
/** The longest `sub` accepted: the schema's default bound on an ID, which it is compared with. */
const MAX_SUB_LENGTH = 200;
const MAX_ROLES = 20;
/** Verified tokens remembered (until they expire), so a client's every request does not verify its signature again. */
const MAX_REMEMBERED_TOKENS = 10_000;
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export interface AuthConfig {
  /** HS256 secret (from JWT_SECRET, or the generated one); unused when `jwksUrl` is set. */
  secret?: string;
  /** Whether `secret` is the one generated under .data/ (a development system: tokens may be handed out). */
  generatedSecret: boolean;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

/** How this process verifies tokens, from the environment. */
export function authConfig(): AuthConfig {
  const jwksUrl = jwtJwksUrl();
  const secret = jwksUrl ? undefined : jwtSecret();
  return {
    jwksUrl,
    secret: jwksUrl ? undefined : (secret ?? devSecret()),
    generatedSecret: !jwksUrl && !secret,
    issuer: jwtIssuer(),
    audience: jwtAudience(),
  };
}

const DEV_SECRET_FILE = resolve(import.meta.dirname, '..', '.data', 'jwt-secret');
let cachedDevSecret: string | undefined;

/** The development secret: read from .data/jwt-secret, created there at first use (atomically: processes race). */
function devSecret(): string {
  if (cachedDevSecret) return cachedDevSecret;
  mkdirSync(resolve(DEV_SECRET_FILE, '..'), { recursive: true });
  try {
    writeFileSync(DEV_SECRET_FILE, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  cachedDevSecret = readFileSync(DEV_SECRET_FILE, 'utf8').trim();
  return cachedDevSecret;
}

export interface Authenticator {
  /** Whether this gateway uses the generated development secret (then it may hand out tokens to its own pages). */
  readonly generatedSecret: boolean;
  /** The viewer of a valid token; UNAUTHENTICATED with the reason otherwise. */
  verify(token: string): Promise<Viewer>;
  /** The viewer of an `Authorization` value: undefined (anonymous) when none, UNAUTHENTICATED when invalid. */
  fromAuthorization(value: unknown): Promise<Viewer | undefined>;
}

export function createAuthenticator(config: AuthConfig = authConfig()): Authenticator {
  // The secret imported once: given as bytes, jose would import it again for every token.
  const key: Promise<CryptoKey> | JWTVerifyGetKey = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 5_000 })
    : crypto.subtle.importKey('raw', new TextEncoder().encode(config.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  // A remembered token still expires on time: its viewer is checked at every use.
  const remembered = new LRUCache<string, Viewer>({ max: MAX_REMEMBERED_TOKENS });
  const options = {
    algorithms: config.jwksUrl ? ASYMMETRIC : ['HS256'],
    issuer: config.issuer,
    audience: config.audience,
    requiredClaims: ['exp', 'sub'],
  };

  async function verify(token: string): Promise<Viewer> {
    if (token.length > MAX_TOKEN_BYTES) throw unauthenticated(`the token is longer than ${MAX_TOKEN_BYTES} characters`);
    const known = remembered.get(token);
    if (known && known.expiresAt.getTime() > Date.now()) return known;
    remembered.delete(token);
    const viewer = viewerOf(await verifiedPayload(token));
    remembered.set(token, viewer);
    return viewer;
  }

  async function verifiedPayload(token: string): Promise<JWTPayload> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (typeof key === 'function' ? key : await key) as never, options));
    } catch (error) {
      // The key set out of reach is this server's problem, not the client's token.
      if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError)) {
        throw new SystemError('UNAVAILABLE', `the keys at JWT_JWKS_URL could not be read (${(error as Error).message}); retry later`, true);
      }
      throw unauthenticated(`the token is not valid (${reason(error)})`);
    }
    return payload;
  }

  return {
    generatedSecret: config.generatedSecret,
    verify,
    async fromAuthorization(value) {
      if (value === undefined || value === null || value === '') return undefined;
      if (typeof value !== 'string') throw unauthenticated('the authorization value must be a string');
      const match = /^Bearer +(\S+) *$/i.exec(value);
      if (!match) throw unauthenticated('the authorization value must be "Bearer <token>"');
      return verify(match[1]);
    },
  };
}

function viewerOf(payload: JWTPayload): Viewer {
  const { sub, roles, exp } = payload;
  if (typeof sub !== 'string' || !sub || sub.length > MAX_SUB_LENGTH) {
    throw unauthenticated(`the token's sub must be a user id of 1 to ${MAX_SUB_LENGTH} characters`);
  }
  // The rules every id follows (input-limits.ts): a sub is compared with ids and written into events as one.
  const unsafe = unsafeCharacter(sub);
  if (unsafe) throw unauthenticated(`the token's sub ${unsafe.replace(/; .*$/, '')}: a user id may not`);
  if (!Array.isArray(roles) || roles.length > MAX_ROLES || roles.some((role) => typeof role !== 'string')) {
    throw unauthenticated(`the token has no roles claim (a list of strings among ${ROLES.join(', ')})`);
  }
  // Roles this system does not know (an identity provider's own) grant nothing here.
  const known = ROLES.filter((role) => roles.includes(role));
  return { sub, roles: known, expiresAt: new Date(exp! * 1000) };
}

function reason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'it has expired: get a new one';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not match this server\'s key';
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim}: ${error.message}`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'its algorithm is not accepted here';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key of the JSON Web Key Set matches it';
  return (error as Error).message;
}

export interface TokenRequest {
  sub: string;
  roles: readonly Role[];
  /** Lifetime in seconds. */
  ttlSeconds: number;
}

/** A token signed with this system's HS256 secret; refused with JWT_JWKS_URL (only the identity provider issues them). */
export async function signToken({ sub, roles, ttlSeconds }: TokenRequest, config: AuthConfig = authConfig()): Promise<string> {
  if (!config.secret) {
    throw new Error('this system verifies tokens with the keys at JWT_JWKS_URL: get a token from that identity provider');
  }
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({ roles: [...roles] }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(sub).setIssuedAt(now).setExpirationTime(now + ttlSeconds);
  if (config.issuer) jwt = jwt.setIssuer(config.issuer);
  if (config.audience) jwt = jwt.setAudience(config.audience);
  return jwt.sign(new TextEncoder().encode(config.secret));
}

/** The tools' token: GATEWAY_TOKEN, or a day's admin token signed here (they act for many users at once). */
export function toolToken(): Promise<string> {
  const given = gatewayToken();
  if (given) return Promise.resolve(given);
  return (cachedToolToken ??= signToken({ sub: 'tools', roles: ['admin'], ttlSeconds: 24 * 3600 }));
}
let cachedToolToken: Promise<string> | undefined;
