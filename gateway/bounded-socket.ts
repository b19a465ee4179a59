/**
 * The WebSocket class the subscription server makes its sockets with (ws's `WebSocket` option), so that every frame,
 * graphql-ws's (through its own adapter, useServer) and the fan-out's, goes through one bounded send:
 * - it never waits for the client: graphql-ws's adapter awaits each frame's flush, which would hold an operation
 *   on a client that stopped reading; here the callback runs as soon as the frame is queued;
 * - a socket whose unsent bytes pass `maxBufferedBytes` (a client that stopped reading) is closed with 1013 "slow
 *   consumer" instead of buffering more, so one slow socket holds neither memory nor any other socket;
 * - a client that broke the protocol is dropped at once, and not reported as an error of ours.
 */
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

/** The close code for a slow consumer: the standard "try again later". */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;

export type BoundedSocket = InstanceType<ReturnType<typeof boundedSockets>>;

export function boundedSockets(maxBufferedBytes: number, slowConsumer: () => void) {
  return class extends WebSocket {
    /** The TCP socket under it (set at the upgrade): corked while several frames are written. */
    tcp: Socket | undefined;

    /** Writes a frame unless the socket is closing, or closes it as a slow consumer; calls back at once either way. */
    override send(data: Parameters<WebSocket['send']>[0], ...rest: unknown[]): void {
      if (this.readyState === WebSocket.OPEN && this.bufferedAmount > maxBufferedBytes) {
        slowConsumer();
        this.close(SLOW_CONSUMER_CLOSE_CODE, `slow consumer: over ${maxBufferedBytes} bytes unsent (MAX_SOCKET_BUFFER_BYTES)`);
      } else if (this.readyState === WebSocket.OPEN) super.send(data);
      (rest.find((arg) => typeof arg === 'function') as (() => void) | undefined)?.();
    }

    /**
     * On a server's socket an `error` is a client's protocol violation (ws has already sent the close, e.g. 1009 for
     * a message past maxPayload): not waited on for its half of the closing handshake, and not passed on, where
     * graphql-ws's adapter would log it as an internal error with its stack, once per connection a client opens.
     */
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (event !== 'error') return super.emit(event, ...args);
      this.terminate();
      return true;
    }

    /** Several frames in one write. */
    sendAll(frames: string[]): void {
      const tcp = frames.length > 1 ? this.tcp : undefined;
      tcp?.cork();
      for (const frame of frames) this.send(frame);
      tcp?.uncork();
    }
  };
}
