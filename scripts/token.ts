/**
 * `npm run -s token -- --sub alice --roles customer [--ttl 1h]`: prints a bearer token this system accepts, and
 * nothing else, on standard output (signed with JWT_SECRET, or the secret generated under .data/ that `npm start`
 * and the tests use). Exit codes: 0 printed, 1 cannot sign (tokens come from JWT_JWKS_URL's provider), 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { signToken } from '../gateway/auth.ts';
import { unsafeCharacter } from '../gateway/input-limits.ts';
import { ROLES } from '../services/domains.ts';
import type { Role } from '../services/shared/graphql/index.ts';

const USAGE = `usage: npm run -s token -- --sub <user id> --roles <${ROLES.join('|')}>[,<role>…] [--ttl <n>[s|m|h|d], default 1h, at most 30d]`;
const MAX_TTL_S = 30 * 24 * 3600;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

function fail(message: string, code = 2): never {
  console.error(`token: ${message}`);
  if (code === 2) console.error(USAGE);
  process.exit(code);
}

let values: { sub?: string; roles?: string; ttl?: string };
try {
  ({ values } = parseArgs({ options: { sub: { type: 'string' }, roles: { type: 'string' }, ttl: { type: 'string', default: '1h' } }, strict: true }));
} catch (error) {
  fail((error as Error).message);
}

const sub = values.sub ?? fail('--sub is required (the user id, e.g. alice)');
if (!sub.trim() || sub.length > 200) fail('--sub must be 1 to 200 characters');
const unsafe = unsafeCharacter(sub);
if (unsafe) fail(`--sub ${unsafe}`);
const roles = (values.roles ?? fail('--roles is required, e.g. --roles customer or --roles rider,driver')).split(',').map((r) => r.trim());
const unknown = roles.filter((role) => !(ROLES as readonly string[]).includes(role));
if (unknown.length) fail(`unknown role ${unknown.map((r) => JSON.stringify(r)).join(', ')}: roles are ${ROLES.join(', ')}`);
const ttl = /^(\d{1,9})([smhd]?)$/.exec(values.ttl!);
if (!ttl) fail(`--ttl must be seconds, or a number followed by s, m, h or d (e.g. 90, 30m, 1h, 7d), not ${JSON.stringify(values.ttl)}`);
const ttlSeconds = Number(ttl[1]) * UNITS[ttl[2] || 's'];
if (ttlSeconds < 1 || ttlSeconds > MAX_TTL_S) fail(`--ttl must be between 1s and 30d, not ${values.ttl}`);

try {
  console.log(await signToken({ sub, roles: [...new Set(roles)] as Role[], ttlSeconds }));
} catch (error) {
  fail((error as Error).message, 1);
}
