/**
 * Change capture of the legacy catalog against the whole system, a real Kafka Connect worker and Debezium's
 * connector named as the ratings contract declares it (as npm start registers it):
 * - a row larger than anything the producer takes (a 10 MB title, 100,000 genres) reaches GraphQL reduced to the
 *   catalog's bounds, its update and delete too, and a normal edit after them arrives within seconds;
 * - `/readyz` and `/metrics` report the connector's state and each task's, and a FAILED task makes `/readyz` 503
 *   with the worker's reason. The task is failed the way an oversized row used to fail it: a record larger than
 *   the producer's max.request.size (lowered here to 200 bytes for this connector, so an ordinary edit is too large).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { deleteConnector, ensureConnect, moviesConnectorConfig, registerMoviesConnector, type RunningConnect } from '../infra/connect/connect.ts';
import { createLegacyDatabase, dropLegacyDatabase } from '../infra/legacy-postgres.ts';
import { startGateway, type RunningGateway } from '../gateway/server.ts';
import { CATALOG_BOUNDS } from '../services/ratings/catalog-change.ts';
import { CATALOG_CONNECTOR } from '../services/ratings/contract.ts';
import { freePort, startSystem, waitFor, type TestSystem } from './support/system.ts';

let system: TestSystem;
let connect: RunningConnect;
let gateway: RunningGateway;
let db: pg.Client;
let connector: { connectUrl: string; name: string; legacyUrl: string; slotName: string; topic: string };

beforeAll(async () => {
  system = await startSystem();
  const { prefix } = system.isolation;
  const id = randomUUID().slice(0, 8);
  const url = new URL(inject('legacyDatabaseUrl'));
  url.pathname = `/legacy_readiness_${id}`;
  await createLegacyDatabase(url.toString());
  db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  connect = await ensureConnect({ brokers: inject('kafkaBrokers').split(','), port: await freePort(), group: `${prefix}connect`, log: () => {} });
  // Named as the contract declares it (under the prefix), as npm start registers it: the gateway finds it by that name.
  connector = { connectUrl: connect.url, name: prefix + CATALOG_CONNECTOR, legacyUrl: url.toString(), slotName: `readiness_${id}_movies`, topic: `${prefix}movies` };
  await registerMoviesConnector(connector);
  gateway = await startGateway({ port: 0, host: '127.0.0.1', connectUrl: connect.url, health: { sampleMs: 200 } });
});

afterAll(async () => {
  await gateway?.stop();
  await db?.end().catch(() => {});
  if (connect) await deleteConnector(connector).catch((e) => console.error(e));
  await connect?.stop();
  if (connector) await dropLegacyDatabase(connector.legacyUrl).catch((e) => console.error(e));
  await system?.stop();
});

const endpoint = (g: RunningGateway, path: string) => g.url.replace('/graphql', path);

async function readiness(g = gateway): Promise<{ status: number; body: any }> {
  const response = await fetch(endpoint(g, '/readyz'));
  return { status: response.status, body: await response.json() };
}

const metrics = async () => (await fetch(endpoint(gateway, '/metrics'))).text();

async function setConfig(overrides: Record<string, string>) {
  const response = await fetch(`${connect.url}/connectors/${encodeURIComponent(connector.name)}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...moviesConnectorConfig(connector), ...overrides }),
  });
  expect(response.ok, await response.text()).toBe(true);
}

/** Reasons that name a connector or its worker (the rest of the system may have its own moments). */
const connectReasons = (body: { reasons?: string[] }) => (body.reasons ?? []).filter((r) => /connector|Kafka Connect/.test(r));

describe('the legacy catalog captured by Kafka Connect', () => {
  it('reports the connector and its task RUNNING, and is ready', async () => {
    let last: Awaited<ReturnType<typeof readiness>> | undefined;
    await waitFor(async () => (last = await readiness()).status === 200, 60_000, () => JSON.stringify(last));
    expect(last!.body.connectors).toEqual([{ name: connector.name, state: 'RUNNING', tasks: [{ id: 0, state: 'RUNNING' }] }]);
    const text = await metrics();
    expect(text).toContain(`connect_connector_state{connector="${connector.name}",state="RUNNING"} 1`);
    expect(text).toContain(`connect_task_state{connector="${connector.name}",task="0",state="RUNNING"} 1`);
  });

  it('carries a 10 MB title and 100,000 genres reduced, then its update and its delete; a normal edit after them shows within seconds', async () => {
    const tenMegabytes = 10 * 1024 * 1024;
    const movie = async (id: string) => (await system.gql('query($id: ID!) { movie(id: $id) { title genres } }', { id }, gateway)).data?.movie;
    let seen: { title: string; genres: string[] } | null | undefined;
    const waitForMovie = (id: string, done: (m: typeof seen) => boolean, what: string) =>
      waitFor(async () => done((seen = await movie(id))), 20_000, () => `${what}: ${JSON.stringify(seen)?.slice(0, 300)}`);

    await db.query('INSERT INTO movies (id, title, release_year, country, genres) VALUES (900010, $1, 2024, $2, $3)', [
      'T'.repeat(tenMegabytes), 'US', Array.from({ length: 100_000 }, (_, i) => `Genre ${i}`),
    ]);
    await waitForMovie('900010', (m) => !!m, 'the 10 MB row');
    expect(seen!.title).toBe('T'.repeat(CATALOG_BOUNDS.titleChars));
    expect(seen!.genres).toEqual(Array.from({ length: CATALOG_BOUNDS.genres }, (_, i) => `Genre ${i}`));
    await db.query('UPDATE movies SET title = $1 WHERE id = 900010', ['U'.repeat(tenMegabytes)]);
    await waitForMovie('900010', (m) => m?.title === 'U'.repeat(CATALOG_BOUNDS.titleChars), 'its update');
    await db.query('DELETE FROM movies WHERE id = 900010');
    await waitForMovie('900010', (m) => m === null, 'its delete');

    const editedAt = Date.now();
    await db.query(`UPDATE movies SET title = 'Lethal Weapon (edited after 10 MB)' WHERE id = 362`);
    await waitForMovie('362', (m) => m?.title === 'Lethal Weapon (edited after 10 MB)', 'the edit after it');
    console.log(`[catalog] legacy edit → GraphQL after a 10 MB row's insert, update and delete: ${Date.now() - editedAt} ms`);
    expect(Date.now() - editedAt).toBeLessThan(5_000);
    expect(connectReasons((await readiness()).body)).toEqual([]);
  });

  it('checks no connector when it is not told of a worker (no CONNECT_URL): the system\'s own gateway', async () => {
    const { status, body } = await readiness(system.gateways[0]);
    expect(body).not.toHaveProperty('connectors');
    expect(connectReasons(body)).toEqual([]);
    expect(status).toBe(200);
  });

  it('is 503 with the reason while a task is FAILED, and ready again once it runs; no edit is lost', async () => {
    await setConfig({ 'producer.override.max.request.size': '200' });
    // Edits until one fails the task: the task running before the new config may still send the first ones.
    let edits = 0;
    const edit = () => db.query('UPDATE movies SET title = $1 WHERE id = 362', [`Lethal Weapon (edit ${++edits})`]);
    let last: Awaited<ReturnType<typeof readiness>> | undefined;
    await waitFor(async () => {
      last = await readiness();
      if (connectReasons(last.body).some((r) => / FAILED/.test(r))) return true;
      await edit();
      await new Promise((r) => setTimeout(r, 200));
      return false;
    }, 30_000, () => JSON.stringify(last));
    expect(last!.status).toBe(503);
    expect(connectReasons(last!.body)).toEqual([expect.stringMatching(
      new RegExp(`^connector ${connector.name.replace(/\./g, '\\.')} task 0 FAILED on 127\\.0\\.0\\.1:\\d+: .*RecordTooLargeException.*; fix the cause, then restart it: curl -X POST`),
    )]);
    console.log(`[readiness] ${connectReasons(last!.body)[0]}`);
    expect(await metrics()).toContain(`connect_task_state{connector="${connector.name}",task="0",state="FAILED"} 1`);

    // The operator's fix: the producer's limit back, and the failed task restarted, as the reason says.
    await setConfig({});
    await fetch(`${connect.url}/connectors/${encodeURIComponent(connector.name)}/restart?includeTasks=true&onlyFailed=true`, { method: 'POST' });
    await waitFor(async () => (last = await readiness()).status === 200, 30_000, () => JSON.stringify(last));
    expect(last!.body.connectors).toEqual([{ name: connector.name, state: 'RUNNING', tasks: [{ id: 0, state: 'RUNNING' }] }]);
    let title: string | undefined;
    await waitFor(
      async () => (title = (await system.gql('{ movie(id: "362") { title } }', {}, gateway)).data?.movie?.title) === `Lethal Weapon (edit ${edits})`,
      20_000,
      () => `the last edit (${edits}), title ${title}`,
    );
  });

  it('is 503 naming a connector that is not registered', async () => {
    await deleteConnector(connector);
    let last: Awaited<ReturnType<typeof readiness>> | undefined;
    await waitFor(async () => connectReasons((last = await readiness()).body).some((r) => /not registered/.test(r)), 20_000, () => JSON.stringify(last));
    expect(last!.status).toBe(503);
    expect(connectReasons(last!.body)).toEqual([
      `connector ${connector.name} is not registered on Kafka Connect at ${connect.url}: its topic gets no changes; register it (npm start and npm run catalog-capture do)`,
    ]);
  });
});
