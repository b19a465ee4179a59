/**
 * The subscription server's sockets (./bounded-socket.ts) over a real loopback connection: a send calls back at once,
 * frames go out in order, a client that stops reading is closed with 1013 once its unsent bytes pass the bound, and
 * one that breaks the protocol is dropped without an `error`.
 */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { boundedSockets, SLOW_CONSUMER_CLOSE_CODE, type BoundedSocket } from './bounded-socket.ts';

const BOUND = 64 * 1024;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** A server socket and the client at its other end. */
async function connected() {
  let slowConsumers = 0;
  const http = createServer();
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: 1024, WebSocket: boundedSockets(BOUND, () => (slowConsumers += 1)) });
  const accepted = new Promise<BoundedSocket>((resolve) => {
    http.on('upgrade', (req, socket, head) => wsServer.handleUpgrade(req, socket, head, (ws) => {
      ws.tcp = socket as Socket;
      resolve(ws);
    }));
  });
  await new Promise<void>((listening) => http.listen(0, '127.0.0.1', listening));
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on('message', (data) => received.push(String(data)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => client.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const server = await accepted;
  await new Promise((open) => client.once('open', open));
  cleanup = async () => {
    client.terminate();
    server.terminate();
    await new Promise((done) => http.close(done));
  };
  return { server, client, received, closed, slowConsumers: () => slowConsumers };
}

describe('bounded sockets', () => {
  it('calls a send back at once, not once the client has read the frame, and sends frames in order', async () => {
    const { server, received } = await connected();
    let calledBack = false;
    server.send('one', () => (calledBack = true));
    expect(calledBack).toBe(true);
    server.sendAll(['two', 'three']);
    await expect.poll(() => received).toEqual(['one', 'two', 'three']);
  });

  it('closes a socket whose client stopped reading with 1013 once its unsent bytes pass the bound', async () => {
    const { server, client, closed, slowConsumers } = await connected();
    (client as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const frame = 'x'.repeat(256 * 1024);
    // The kernel's buffers fill first; then ws holds the bytes, up to the bound.
    for (let i = 0; i < 2000 && server.readyState === WebSocket.OPEN; i += 1) {
      server.send(frame);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(server.readyState).not.toBe(WebSocket.OPEN);
    expect(server.bufferedAmount).toBeLessThan(BOUND + 2 * frame.length);
    expect(slowConsumers()).toBe(1);
    server.send(frame); // a closing socket drops it: no second close
    expect(slowConsumers()).toBe(1);
    (client as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code, reason } = await closed;
    expect(code).toBe(SLOW_CONSUMER_CLOSE_CODE);
    expect(reason).toBe(`slow consumer: over ${BOUND} bytes unsent (MAX_SOCKET_BUFFER_BYTES)`);
  });

  it('drops a client that broke the protocol at once, without an error event for anyone to log', async () => {
    const { server, client, closed } = await connected();
    let errors = 0;
    server.on('error', () => (errors += 1));
    const serverClosed = new Promise((resolve) => server.once('close', resolve));
    client.send('x'.repeat(2048)); // past maxPayload
    await serverClosed;
    expect(errors).toBe(0);
    expect([1009, 1006]).toContain((await closed).code);
  });
});
