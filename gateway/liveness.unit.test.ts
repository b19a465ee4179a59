import { describe, expect, it } from 'vitest';
import type { ConsumerHealth } from '../services/shared/liveness.ts';
import { livenessReasons, type HeardInstance, type LivenessGroup } from './liveness.ts';

const NOW = 1_000_000;
const LISTENING = NOW - 60_000;

const group = (name: string, partitions = 2): LivenessGroup => ({
  name, group: `p.${name}`, process: name, topics: [{ logical: `${name}.in`, physical: `p.${name}.in`, partitions }],
});

function instance(pid: number, heardAgo: number, consumers: [name: string, partitions: number[], problem?: string][], joinedAgo = 60_000): HeardInstance {
  return {
    instance: `h:${pid}:x`, process: consumers.length > 1 ? 'services' : consumers[0][0], pid, host: 'h', heardAt: NOW - heardAgo,
    consumers: new Map(consumers.map(([name, partitions, problem]): [string, ConsumerHealth & { joinedAt: number }] =>
      [`p.${name}`, { group: `p.${name}`, problem, topics: [`p.${name}.in`], assigned: { [`p.${name}.in`]: partitions }, joinedAt: NOW - joinedAgo }])),
  };
}

describe('livenessReasons', () => {
  it('is satisfied when live, healthy members hold every partition', () => {
    expect(livenessReasons([group('orders'), group('fraud')], [instance(1, 900, [['orders', [0, 1]], ['fraud', [0, 1]]])], NOW, LISTENING)).toEqual([]);
  });

  it('names a process silent for longer than 2.5 s and what no one runs in its stead, not one replaced before', () => {
    const reasons = livenessReasons([group('orders'), group('fraud')], [instance(41, 2_600, [['orders', [0, 1]], ['fraud', [0, 1]]])], NOW, LISTENING);
    expect(reasons).toEqual([
      'process services (pid 41 on h) has sent no heartbeat for 2.6 s, and no live process runs orders, fraud in its stead: ' +
        'it died or hangs; restart it (npm start and docker compose restart a process that exits)',
    ]);
    expect(livenessReasons([group('orders')], [instance(41, 2_400, [['orders', [0, 1]]])], NOW, LISTENING)).toEqual([]);
    const replacedEarlier = instance(40, 30_000, [['orders', [0, 1]]]);
    expect(livenessReasons([group('orders')], [replacedEarlier, instance(41, 2_600, [['orders', [0, 1]]], 20_000)], NOW, LISTENING)).toEqual([
      'process orders (pid 41 on h) has sent no heartbeat for 2.6 s, and no live process runs orders in its stead: ' +
        'it died or hangs; restart it (npm start and docker compose restart a process that exits)',
    ]);
  });

  it('does not mind a silent instance when live ones hold all its partitions, and names it while they do not', () => {
    const killed = instance(7, 5_000, [['orders', [1]]]);
    expect(livenessReasons([group('orders')], [killed, instance(8, 100, [['orders', [0, 1]]])], NOW, LISTENING)).toEqual([]);
    expect(livenessReasons([group('orders')], [killed, instance(8, 100, [['orders', [0]]])], NOW, LISTENING)).toEqual([
      "orders has no live member for orders.in/1: process orders (pid 7 on h), silent for 5.0 s, held them; its group hands them to the live members once that member's session times out",
    ]);
    // The live member joined after the silent one fell silent: what that one held is void (it died before an earlier kill, say).
    expect(livenessReasons([group('orders')], [killed, instance(8, 100, [['orders', [0]]], 4_000)], NOW, LISTENING)).toEqual([
      'orders has no live member for orders.in/1: its group is handing them out (a rebalance)',
    ]);
  });

  it('names what a live process says is wrong with its consumers, unless another instance stands in', () => {
    const sick = instance(3, 100, [['orders', [0, 1], 'has had no answer from Kafka for 2.6 s'], ['fraud', [], 'is starting']]);
    expect(livenessReasons([group('orders'), group('fraud')], [sick], NOW, LISTENING)).toEqual([
      'process services (pid 3 on h): orders has had no answer from Kafka for 2.6 s; fraud is starting',
    ]);
    expect(livenessReasons([group('orders')], [sick, instance(4, 100, [['orders', [0, 1]]])], NOW, LISTENING)).toEqual([]);
  });

  it('asks to start a service no heartbeat names, once it has listened long enough to know', () => {
    expect(livenessReasons([group('fraud')], [], NOW, NOW - 1_000)).toEqual([
      "waiting for the processes' first heartbeats (listening for 1.0 s; they come every second)",
    ]);
    expect(livenessReasons([group('fraud')], [], NOW, NOW - 3_000)).toEqual([
      'fraud runs in no process (no heartbeat names it): start the fraud service (npm run service -- fraud)',
    ]);
  });

  it('counts silence only from when it could hear, and says when it cannot', () => {
    const beforeRelisten = instance(5, 10_000, [['orders', [0, 1]]]);
    expect(livenessReasons([group('orders')], [beforeRelisten], NOW, NOW - 1_000)).toEqual([]);
    expect(livenessReasons([group('orders')], [beforeRelisten], NOW, undefined)).toEqual([
      "cannot hear the processes' heartbeats: the gateway's LISTEN connection to PostgreSQL is down (it reconnects by itself): check DATABASE_URL and the server",
    ]);
  });

  it('names partitions no member holds while a group hands them out, and skips topics of unknown size', () => {
    expect(livenessReasons([group('orders', 3)], [instance(6, 100, [['orders', [0]]])], NOW, LISTENING)).toEqual([
      'orders has no live member for orders.in/1,2: its group is handing them out (a rebalance)',
    ]);
    const unknown = { ...group('orders'), topics: [{ logical: 'orders.in', physical: 'p.orders.in', partitions: undefined }] };
    expect(livenessReasons([unknown], [instance(6, 100, [['orders', []]])], NOW, LISTENING)).toEqual([]);
    const unread = { ...group('orders'), topics: [...group('orders').topics, { logical: 'orders.repartition', physical: 'p.orders.repartition', partitions: 2 }] };
    expect(livenessReasons([unread], [instance(6, 100, [['orders', [0, 1]]])], NOW, LISTENING)).toEqual([]);
  });
});
