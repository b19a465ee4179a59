/**
 * A short `npm run chaos`: the whole system as processes under the supervisor, on a broker of its own (so the
 * shared broker other test files use is never restarted), with a small load on every domain (orders, ratings,
 * rides) while inventory and the gateway are SIGKILLed, PostgreSQL drops every connection and the broker restarts.
 * Every fault must be recovered from and every invariant must hold afterwards.
 *
 * With CHAOS_BROKERS=3 it also runs the broker failover on a 3-node KRaft cluster of its own (replication 3,
 * min.insync.replicas 2): about three minutes and three more JVMs, so not part of a plain `npm test`.
 */
import { expect, it } from 'vitest';
import { runChaos, type ChaosReport } from '../scripts/chaos.ts';
import { freePortPair } from './support/system.ts';

it('recovers from SIGKILLs, dropped PostgreSQL connections and a broker restart, and every invariant holds', async () => {
  const lines: string[] = [];
  // Each port is free when picked, and released at once: the second pick may be the first again (it was, once).
  const kafkaPort = await freePortPair();
  let gatewayPort = await freePortPair();
  while (Math.abs(gatewayPort - kafkaPort) <= 1) gatewayPort = await freePortPair();
  const report = await runChaos({
    durationMs: 30_000,
    clients: 3,
    faults: ['kill:inventory', 'kill:gateway', 'postgres', 'broker'],
    kafkaPort,
    gatewayPort,
    log: (line) => {
      lines.push(line);
      if (process.env.TEST_LOGS) console.log(`[chaos] ${line}`);
    },
  });
  const context = `${lines.join('\n')}\nprocess logs: ${report.logFile}`;

  expect(report.faults.map((f) => f.fault), context).toEqual(['kill:inventory', 'kill:gateway', 'postgres', 'broker']);
  for (const fault of report.faults) expect(fault.recoveryMs, `${fault.fault} recovered\n${context}`).not.toBeNull();
  expect(report.load.answered, 'orders accepted under load').toBeGreaterThan(20);
  expect(report.restarts.inventory).toBeGreaterThanOrEqual(1);
  expect(report.restarts.gateway).toBeGreaterThanOrEqual(1);

  expectInvariants(report, context, INVARIANTS);
}, 240_000);

const INVARIANTS = [
  'no id twice on any topic (read_committed): events, commands, replies',
  'one terminal state per accepted order (log)', 'the orders projection agrees with the log',
  'reserved = VALIDATED quantities, stock = stock added (once each)', 'projections equal a fresh replay: content',
  'projections equal a fresh replay: timestamps', "each movie's count and sum = the ratings accepted",
  'no driver on two rides at once', 'nothing dead-lettered', 'no process crashed (restarts = kills)',
];

function expectInvariants(report: ChaosReport, context: string, names: string[]) {
  expect(report.load.ratings, 'ratings under load').toMatch(/\(([1-9]\d+) accepted\)/);
  expect(report.load.rides, 'rides under load').toMatch(/[1-9]\d* completed/);
  for (const name of names) expect(report.invariants.map((i) => i.name)).toContain(name);
  for (const invariant of report.invariants) {
    if (invariant.informational) continue;
    expect(invariant, `${invariant.name}\n${context}`).toMatchObject({ ok: true });
  }
}

it.runIf(process.env.CHAOS_BROKERS === '3')('fails over when the broker leading the most partitions of a 3-node cluster is SIGKILLed, and every invariant holds', async () => {
  const lines: string[] = [];
  const gatewayPort = await freePortPair();
  const report = await runChaos({
    durationMs: 40_000,
    clients: 3,
    brokers: 3,
    faults: ['kill:inventory', 'broker-leader'],
    gatewayPort,
    log: (line) => {
      lines.push(line);
      if (process.env.TEST_LOGS) console.log(`[chaos] ${line}`);
    },
  });
  const context = `${lines.join('\n')}\nprocess logs: ${report.logFile}`;
  const failover = report.faults.find((f) => f.fault === 'broker-leader');
  console.log(`[chaos] 3 brokers: from the SIGKILL to the next VALIDATED order ${failover?.recoveryMs ?? 'never'} ms (${failover?.note})`);
  expect(report.faults.map((f) => f.fault), context).toEqual(['kill:inventory', 'broker-leader']);
  for (const fault of report.faults) expect(fault.recoveryMs, `${fault.fault} recovered\n${context}`).not.toBeNull();
  expect(failover!.note, context).toMatch(/SIGKILL broker \d .* leader of \d+ of \d+ partitions/);
  expectInvariants(report, context, [...INVARIANTS,
    'every system topic replicated 3 times with min.insync.replicas 2', 'every replica back in sync (the killed broker rejoined)']);
}, 420_000);
