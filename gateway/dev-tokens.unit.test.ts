/** Who may take the development tokens: each refusal on its own, and the one case that gets them. */
import { describe, expect, it } from 'vitest';
import { devTokenRefusal, isLoopbackHost, type DevTokenRequest } from './dev-tokens.ts';

const local: DevTokenRequest = { generatedSecret: true, listeningOn: '127.0.0.1', peer: '127.0.0.1', hostHeader: 'localhost:4000' };

describe('development tokens', () => {
  it('are given to a loopback peer with a loopback Host, while the gateway listens on loopback with the generated secret', () => {
    for (const hostHeader of ['localhost', 'localhost:4000', 'LOCALHOST:1', '127.0.0.1', '127.0.0.1:4000', '[::1]', '[::1]:4000']) {
      expect(devTokenRefusal({ ...local, hostHeader }), hostHeader).toBeUndefined();
    }
    for (const peer of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
      expect(devTokenRefusal({ ...local, peer }), peer).toBeUndefined();
    }
    for (const listeningOn of ['127.0.0.1', 'localhost', '::1']) expect(devTokenRefusal({ ...local, listeningOn }), listeningOn).toBeUndefined();
  });

  it('are never given with JWT_SECRET or JWT_JWKS_URL', () => {
    expect(devTokenRefusal({ ...local, generatedSecret: false })).toMatchObject({ status: 404, message: expect.stringMatching(/generated development secret/) });
  });

  it('are never given while the gateway listens beyond loopback (HOST), even to a loopback request', () => {
    for (const listeningOn of ['0.0.0.0', '::', '192.168.1.5', 'gateway.example']) {
      expect(devTokenRefusal({ ...local, listeningOn }), listeningOn).toMatchObject({ status: 404, message: expect.stringMatching(/HOST=/) });
    }
  });

  it('are refused to a peer that is not on this machine', () => {
    for (const peer of ['10.0.0.7', '::ffff:10.0.0.7', '192.168.1.5', 'fe80::1', '::2', undefined]) {
      expect(devTokenRefusal({ ...local, peer }), String(peer)).toMatchObject({ status: 403, message: expect.stringMatching(/own machine/) });
    }
  });

  it('are refused with a Host header other than localhost, 127.0.0.1 or [::1] (DNS rebinding)', () => {
    for (const hostHeader of ['attacker.example', 'attacker.example:4000', 'localhost.attacker.example', '127.0.0.1.nip.io', 'localhost:4000@evil', '127.0.0.2', '', undefined]) {
      expect(devTokenRefusal({ ...local, hostHeader }), String(hostHeader)).toMatchObject({ status: 403, message: expect.stringMatching(/opened as localhost/) });
    }
  });

  it('tells loopback listening addresses from others', () => {
    expect(['127.0.0.1', 'localhost', '::1', '127.0.0.2'].map(isLoopbackHost)).toEqual([true, true, true, true]);
    expect(['0.0.0.0', '::', '', '10.0.0.1'].map(isLoopbackHost)).toEqual([false, false, false, false]);
  });
});
