/**
 * Governed schemas on the real registry (Apicurio): set-up registers every topic's schema from the contracts, with
 * BACKWARD_TRANSITIVE for event topics and BACKWARD for command topics, and `npm run schemas -- check` finds the
 * working tree compatible. A contract changed incompatibly (a new required field) is refused by set-up, naming the
 * subject, the field and the rule, with nothing registered, and a process running it refuses to start; a field
 * added with a default is accepted as the next version.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { defineContract, type AnyContract } from '../services/shared/messages.ts';
import { processesOf, startParts } from '../services/shared/process.ts';
import { createSchemaRegistry, registerSchemas, subjectOf, topicSchemas } from '../services/shared/schemas.ts';
import { tallyContract, TOPICS } from './fixtures/tally/contract.ts';
import tally from './fixtures/tally/index.ts';
import { isolate, type Isolation } from './support/system.ts';

const root = resolve(import.meta.dirname, '..');
const registry = createSchemaRegistry();
let isolation: Isolation;

beforeAll(async () => {
  isolation = await isolate(); // registers the product's contracts under its prefix, as set-up does
  await registerSchemas(registry, topicSchemas([tallyContract], isolation.prefix));
});
afterAll(async () => {
  await isolation?.drop();
});

/** The tally contract with TallyAdded's data given `field` (its runtime, a copy bound to the changed contract). */
function tallyWith(field: z.ZodType): { contract: AnyContract; runtime: typeof tally } {
  const { schema, ...added } = tallyContract.events.TallyAdded;
  const contract = defineContract({
    ...tallyContract,
    events: { TallyAdded: { ...added, schema: schema.extend({ unit: field }) } },
  });
  return {
    contract,
    runtime: {
      ...tally,
      contract,
      services: tally.services.map((service) => ({ ...service, contract })),
      projections: tally.projections?.map((projection) => ({ ...projection, contract })),
    },
  };
}

it('registers every topic the contracts write, events BACKWARD_TRANSITIVE and commands BACKWARD', async () => {
  expect(await registry.state(subjectOf(isolation.prefix, 'orders.events'))).toMatchObject({ versions: [1], compatibility: 'BACKWARD_TRANSITIVE' });
  expect(await registry.state(subjectOf(isolation.prefix, 'orders.commands'))).toMatchObject({ versions: [1], compatibility: 'BACKWARD' });
  expect(await registry.state(subjectOf(isolation.prefix, 'rated-movies'))).toMatchObject({ versions: [1], compatibility: 'BACKWARD_TRANSITIVE' });
  // Debezium writes `movies`: its schema is not the contracts' to register.
  expect((await registry.state(subjectOf(isolation.prefix, 'movies'))).versions).toEqual([]);
  // Registering the same contracts again adds no version.
  expect(await registerSchemas(registry, topicSchemas([tallyContract], isolation.prefix))).toEqual([]);
});

it('`npm run schemas -- check` finds the working tree compatible, and `npm run schemas` lists each subject', () => {
  const env = { ...process.env, TOPIC_PREFIX: isolation.prefix, SCHEMA_REGISTRY_URL: registry.url };
  const check = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/schemas.ts', 'check'], { cwd: root, env, encoding: 'utf8' });
  expect(check.stdout).toContain('compatible');
  expect(check.status).toBe(0);
  const list = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/schemas.ts'], { cwd: root, env, encoding: 'utf8' });
  expect(list.stdout).toContain(`${isolation.prefix}orders.events-value  versions 1  BACKWARD_TRANSITIVE`);
  expect(list.status).toBe(0);
});

it('refuses a new required field, naming the subject, the field and the rule, and registers nothing', async () => {
  const subject = subjectOf(isolation.prefix, TOPICS.events);
  const { contract, runtime } = tallyWith(z.string());
  const refused = await registerSchemas(registry, topicSchemas([contract], isolation.prefix)).catch((error: Error) => error.message);
  expect(refused).toContain(`${subject}: TallyAdded's data.unit became required`);
  expect(refused).toContain('BACKWARD_TRANSITIVE');
  expect((await registry.state(subject)).versions).toEqual([1]);
  // A process running that contract does not start.
  const started = await startParts(processesOf(runtime)).then(async (running) => {
    await running.stop();
    return 'started';
  }, (error: Error) => error.message);
  expect(started).toContain('incompatible with the registered schemas');
  expect(started).toContain('data.unit became required');
});

it('accepts a field added with a default as the next version', async () => {
  const subject = subjectOf(isolation.prefix, TOPICS.events);
  const { contract } = tallyWith(z.string().default('items'));
  expect(await registerSchemas(registry, topicSchemas([contract], isolation.prefix))).toEqual([subject]);
  expect((await registry.state(subject)).versions).toEqual([1, 2]);
});
