/**
 * A domain is one folder and one line: the tally fixture (test/fixtures/tally) runs on the runtime and behind the
 * gateway like any product domain, end to end on real Kafka and PostgreSQL. A command is decided, answered and its
 * event projected; one the decider refuses is answered with its code and writes nothing; a redelivered one is
 * decided once; a GraphQL mutation goes through all of it and reads its write back.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readTopic } from '../scripts/topic-reader.ts';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { RUNTIME_TOPICS, decodeReply, type CommandReply } from '../services/shared/messages.ts';
import { processesOf, startParts, type RunningParts } from '../services/shared/process.ts';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { tallyContract, TOPICS } from './fixtures/tally/contract.ts';
import tallySlice from './fixtures/tally/graphql/index.ts';
import tally from './fixtures/tally/index.ts';
import { isolate, tokenFor, waitFor, type Isolation } from './support/system.ts';

let isolation: Isolation;
let running: RunningParts;
let bus: Bus;
let db: pg.Client;
let gateway: RunningGateway;

beforeAll(async () => {
  isolation = await isolate([tally.contract]);
  db = new pg.Client({ connectionString: isolation.databaseUrl });
  await db.connect();
  await db.query(readFileSync(new URL('./fixtures/tally/schema.sql', import.meta.url), 'utf8')); // its migration
  running = await startParts(processesOf(tally)); // the one line that runs the domain…
  gateway = await startGateway({ port: 0, domains: [{ contract: tally.contract, slice: tallySlice }] }); // …and serves it
  bus = await createBus({ clientId: 'tally-test' });
});
afterAll(async () => {
  await gateway?.stop();
  await bus?.close();
  await running?.stop();
  await db?.end();
  await isolation?.drop();
});

/** Sends AddToTally (with `commandId`, to send the same command again) and waits for its reply. */
async function add(name: string, amount: number, commandId = randomUUID()): Promise<CommandReply> {
  await bus.publish([tallyContract.outgoing(tallyContract.command({ type: 'AddToTally', data: { tally: name, amount } }, { commandId }))]);
  let reply: CommandReply | undefined;
  await waitFor(async () => {
    const replies = (await readTopic(bus, bus.topic(RUNTIME_TOPICS.commandReplies))).map((m) => decodeReply(m.value));
    reply = replies.findLast((r) => r.commandId === commandId);
    return reply !== undefined;
  }, 30_000, () => `a reply to ${commandId}`);
  return reply!;
}

const projectedTotal = async (name: string) => (await db.query('SELECT total FROM tallies WHERE tally = $1', [name])).rows[0]?.total;

it('decides a command, answers it and projects its event', async () => {
  const name = `t-${randomUUID().slice(0, 8)}`;
  const first = await add(name, 30);
  expect(first).toMatchObject({ status: 'ACCEPTED' });
  expect(first.positions).toHaveLength(1);
  expect(first.positions[0].topic).toBe(bus.topic(TOPICS.events));
  expect((await add(name, 12)).status).toBe('ACCEPTED');
  await waitFor(async () => (await projectedTotal(name)) === 42, 20_000, () => `tally ${name} projected at 42`);
});

it('answers a refused command with the code the decider gave, and writes nothing', async () => {
  const name = `t-${randomUUID().slice(0, 8)}`;
  expect((await add(name, 90)).status).toBe('ACCEPTED');
  const refused = await add(name, 20);
  expect(refused).toMatchObject({ status: 'REJECTED', code: 'TALLY_FULL' });
  expect(refused.message).toContain('would pass 100');
  const events = (await readTopic(bus, bus.topic(TOPICS.events))).map((m) => tallyContract.decode(m.value));
  expect(events.flatMap((e) => (e.type === 'TallyAdded' && e.data.tally === name ? [e.data.total] : []))).toEqual([90]);
});

it('decides a redelivered command once and answers every copy alike', async () => {
  const name = `t-${randomUUID().slice(0, 8)}`;
  const commandId = randomUUID();
  const first = await add(name, 5, commandId);
  const again = await add(name, 5, commandId);
  expect(again.positions).toEqual(first.positions);
  const events = (await readTopic(bus, bus.topic(TOPICS.events))).map((m) => tallyContract.decode(m.value));
  expect(events.filter((e) => e.type === 'TallyAdded' && e.data.tally === name)).toHaveLength(1);
  await waitFor(async () => (await projectedTotal(name)) === 5, 20_000, () => `tally ${name} projected at 5`);
});

it('serves the domain through the gateway: a mutation is decided, projected and read back, a refusal keeps its code', async () => {
  const name = `t-${randomUUID().slice(0, 8)}`;
  const gql = async (query: string) => {
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('admin', ['admin'])}` },
      body: JSON.stringify({ query }),
    });
    return (await response.json()) as { data?: any; errors?: { message: string; extensions: { code: string } }[] };
  };
  expect(await gql(`mutation { addToTally(name: "${name}", amount: 60) { name total } }`)).toEqual({ data: { addToTally: { name, total: 60 } } });
  const refused = await gql(`mutation { addToTally(name: "${name}", amount: 41) { total } }`);
  expect(refused.errors?.[0].extensions.code).toBe('TALLY_FULL');
  expect((await gql(`mutation { addToTally(name: "${name}", amount: 101) { total } }`)).errors?.[0].extensions.code).toBe('BAD_USER_INPUT');
  expect(await gql(`{ tally(name: "${name}") { total } }`)).toEqual({ data: { tally: { total: 60 } } });
});
