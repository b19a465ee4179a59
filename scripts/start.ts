/**
 * `npm start`: the whole system on this machine. Starts Kafka (unless KAFKA_BROKERS is set) and the schema registry
 * (unless SCHEMA_REGISTRY_URL is set), sets up the database, topics, schemas and seed stock (scripts/setup.ts), then runs the services (one process hosting them all, or
 * SERVICE_PROCESSES=each: one each; SERVICE_INSTANCES=dispatch=2: a service apart, in several) and the gateway with prefixed logs, restarting any that crashes
 * (scripts/supervisor.ts). Ctrl-C stops everything.
 */
import { ensureKafka } from '../infra/kafka/broker.ts';
import { ensureCatalogCapture } from '../infra/connect/connect.ts';
import { ensureSchemaRegistry } from '../infra/registry/registry.ts';
import { authConfig, signToken } from '../gateway/auth.ts';
import { gatewayPort } from '../gateway/config.ts';
import { ensurePrismaClient } from './prepare.ts';
import { setUpSystem } from './setup.ts';
import { parseServiceInstances, superviseProcesses, systemProcesses } from './supervisor.ts';

const say = (line: string) => console.log(`[start] ${line}`);

/**
 * How `npm start` runs the services: `one` process hosting every service (as docker-compose's `services` container does:
 * one reader for their command handlers, shared produce requests), or `each` service as its own process.
 * Default: one.
 */
function serviceProcesses(): 'one' | 'each' {
  const layout = process.env.SERVICE_PROCESSES ?? 'one';
  if (layout !== 'one' && layout !== 'each') throw new Error(`SERVICE_PROCESSES must be "one" or "each", not "${layout}"`);
  return layout;
}

ensurePrismaClient();
// Imported after generation: the services' projections load the generated Prisma client.
const { SERVICE_NAMES } = await import('../services/domains.ts');
// SERVICE_INSTANCES=dispatch=2: those services apart, as several processes sharing their partitions.
const instances = parseServiceInstances(process.env.SERVICE_INSTANCES, SERVICE_NAMES);
const givenBrokers = Boolean(process.env.KAFKA_BROKERS);
// The schema registry starts beside the broker (about 10 s): set-up registers every topic's schema in it.
const [kafka, registry] = await Promise.all([ensureKafka(), ensureSchemaRegistry()]);
process.env.KAFKA_BROKERS = kafka.brokers.join(',');
process.env.SCHEMA_REGISTRY_URL = registry.url;
// The embedded broker's data may have been wiped while the database stayed: then its log is the truth.
await setUpSystem(say, { rebuildProjections: givenBrokers ? 'never' : 'if-foreign' }).catch(async (error: Error) => {
  say(`cannot start: ${error.message}`);
  await Promise.all([kafka.stop(), registry.stop()]);
  process.exit(1);
});

// The legacy catalog and its change data capture: PostgreSQL on 5433 and a Connect worker on 8083, unless given.
const catalog = await ensureCatalogCapture({ log: (line) => console.log(line) }).catch(async (error: Error) => {
  say(`cannot start the catalog's change data capture: ${error.message}`);
  await Promise.all([kafka.stop(), registry.stop()]);
  process.exit(1);
});
// The processes reach the worker as docker-compose's do: the gateway's /readyz and /metrics report its connector.
process.env.CONNECT_URL = catalog.connectUrl;

const supervisor = superviseProcesses(systemProcesses([...SERVICE_NAMES], serviceProcesses(), instances), { env: process.env, log: say });
let stopping = false;
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

await waitForGateway();
say('');
say(`GraphQL endpoint:   http://localhost:${gatewayPort()}/graphql  (POST; ws:// for subscriptions)`);
say(`Playground:         http://localhost:${gatewayPort()}/graphiql`);
say(`Leaderboard:        http://localhost:${gatewayPort()}/app`);
say(`Health:             http://localhost:${gatewayPort()}/healthz (alive), /readyz (every consumer moving), /metrics`);
await printTokens();
say('Ctrl-C stops everything; a process that crashes is restarted.');

/** Tokens for the playground and curl (README, Authentication): an admin, and the customer of the examples. */
async function printTokens() {
  const auth = authConfig();
  if (!auth.secret) return say('Tokens:             from the identity provider at JWT_JWKS_URL (this system cannot sign any)');
  const ttlSeconds = 12 * 3600;
  say(`Admin token (12 h):    ${await signToken({ sub: 'admin', roles: ['admin'], ttlSeconds }, auth)}`);
  say(`Customer alice (12 h): ${await signToken({ sub: 'alice', roles: ['customer'], ttlSeconds }, auth)}`);
  say('Send one as `Authorization: Bearer <token>`; the playground has them preset. More: npm run -s token -- --sub <id> --roles <role>');
}

/** Children first (they leave their consumer groups through the broker), then the broker if we started it. */
async function stop() {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  await supervisor.stop();
  await catalog.stop();
  await Promise.all([kafka.stop(), registry.stop()]);
  say('stopped');
  process.exit(0);
}

async function waitForGateway() {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !stopping) {
    const ok = await fetch(`http://127.0.0.1:${gatewayPort()}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  if (!stopping) say('the gateway did not become healthy within 60 s; see its log lines above');
}
