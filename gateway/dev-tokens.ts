/**
 * Who may take the development tokens (`GET /auth/dev-tokens`, which the playground and the /app pages read): an
 * admin token is the keys to the system, so only a browser on the machine the gateway runs on, and only while
 * nothing else can reach the gateway.
 *
 * - Only with the generated development secret: a system with JWT_SECRET or JWT_JWKS_URL has real identities.
 * - Only while the gateway listens on loopback: with HOST set beyond it, never.
 * - Only to a loopback peer: a proxy or another machine is refused.
 * - Only with a loopback `Host` header: a page of another site whose name was made to resolve to 127.0.0.1 (DNS
 *   rebinding) sends its own name there, and is refused.
 */
import { isIP } from 'node:net';

export interface DevTokenRequest {
  generatedSecret: boolean;
  /** The address the gateway listens on. */
  listeningOn: string;
  /** The peer's address (`req.socket.remoteAddress`). */
  peer: string | undefined;
  /** The request's `Host` header. */
  hostHeader: string | undefined;
}

/** Why the tokens are refused (status and a sentence that says what to do), or undefined when they may be given. */
export function devTokenRefusal(request: DevTokenRequest): { status: number; message: string } | undefined {
  if (!request.generatedSecret) {
    return { status: 404, message: 'not found: tokens are handed out only with the generated development secret (no JWT_SECRET, no JWT_JWKS_URL); get one from your identity provider' };
  }
  if (!isLoopbackHost(request.listeningOn)) {
    return { status: 404, message: `not found: tokens are never handed out while the gateway listens beyond this machine (HOST=${request.listeningOn}); use \`npm run -s token\` on the gateway's machine` };
  }
  if (!isLoopbackAddress(request.peer)) {
    return { status: 403, message: 'forbidden: development tokens are handed out only to a client on the gateway\'s own machine' };
  }
  if (!isLoopbackHostHeader(request.hostHeader)) {
    return { status: 403, message: 'forbidden: development tokens are handed out only to pages opened as localhost, 127.0.0.1 or [::1]' };
  }
  return undefined;
}

/** Whether listening on `host` keeps the gateway to this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || isLoopbackAddress(host);
}

function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIP(v4) === 4) return v4.split('.')[0] === '127';
  return isIP(address) === 6 && /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(address);
}

/** `localhost`, `127.0.0.1` or `[::1]`, with or without a port. */
function isLoopbackHostHeader(value: string | undefined): boolean {
  const match = /^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i.exec(value ?? '');
  return match !== null;
}
