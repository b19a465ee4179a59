/**
 * The floor of the fan-out bench (issue 10): a bare `ws` server that speaks just enough graphql-transport-ws
 * for ./subscribers.ts (init, subscribe, ping) and, on the line `SEND <updates> <subscribers>` on stdin, once that
 * many have subscribed, writes `updates`
 * `next` frames to every subscriber, round after round as events would come, the last one a terminal order
 * state stamped with the moment the first round began. No GraphQL, no Kafka, no database: what 10,000 sockets
 * cost this machine by themselves. Prints its port.
 */
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { WebSocketServer, type WebSocket } from 'ws';

const subscribers: { socket: WebSocket; id: string }[] = [];
const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'graphql-transport-ws' });
server.on('connection', (socket) => {
  socket.on('message', (raw) => {
    const message = JSON.parse(String(raw)) as { type: string; id?: string };
    if (message.type === 'connection_init') socket.send('{"type":"connection_ack"}');
    else if (message.type === 'subscribe') subscribers.push({ socket, id: message.id! });
    else if (message.type === 'ping') socket.send('{"type":"pong"}');
  });
});
server.on('listening', () => console.log(`PORT ${(server.address() as AddressInfo).port}`));

const order = (state: string, at: string) =>
  JSON.stringify({ data: { orderUpdated: { id: 'floor', state, validations: [], updatedAt: at } } });

for await (const line of createInterface({ input: process.stdin })) {
  const [command, count, expected] = line.split(' ');
  if (command !== 'SEND') continue;
  while (subscribers.length < Number(expected)) await new Promise((r) => setTimeout(r, 10));
  const updates = Number(count);
  const at = new Date().toISOString();
  for (let round = 1; round <= updates; round += 1) {
    const payload = order(round === updates ? 'VALIDATED' : 'CREATED', at);
    for (const { socket, id } of subscribers) socket.send(`{"id":"${id}","type":"next","payload":${payload}}`);
    await new Promise((r) => setImmediate(r)); // one round per turn, as events arrive one by one
  }
  console.log(`SENT ${subscribers.length}`);
}
