import { connect, type Socket } from 'node:net';
import type { ISocketFactory } from 'kafkajs';

/**
 * kafkajs sockets a test can make deaf: after `deafen()` the sockets open so far still send requests to the broker,
 * but its answers are never read, as from a broker that stopped answering without closing anything. Sockets opened
 * later (a replaced client's) work normally.
 */
export function deafeningSockets() {
  const open: Socket[] = [];
  const deaf: Socket[] = [];
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect);
    open.push(socket);
    return socket;
  };
  return {
    socketFactory,
    deafen() {
      for (const socket of open.splice(0)) {
        socket.pause();
        deaf.push(socket);
      }
    },
    /** Sockets opened since the last `deafen()`. */
    openedSince: () => open.length,
    /** Lets the deaf sockets read again, so that their clients can close. */
    restore: () => deaf.splice(0).forEach((socket) => socket.resume()),
  };
}
