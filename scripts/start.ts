/**
 * `npm start`: the whole system on this machine. Starts Kafka (unless KAFKA_BROKERS is set), sets up the
 * database, topics and seed stock (scripts/setup.ts), then runs every service and the gateway as its own
 * process with prefixed logs. Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ensureKafka } from '../infra/kafka/broker.ts';
import { ensureCatalogCapture } from '../infra/connect/connect.ts';
import { gatewayPort } from '../services/shared/config.ts';
import { ensurePrismaClient } from './prepare.ts';
import { setUpSystem } from './setup.ts';

const root = resolve(import.meta.dirname, '..');
const say = (line: string) => console.log(`[start] ${line}`);

ensurePrismaClient();
// Imported after generation: the services' projections load the generated Prisma client.
const { SERVICES } = await import('../services/index.ts');
const PROCESSES = [
  ...SERVICES.map(({ name }) => ({ name, entry: `services/${name}/main.ts` })),
  { name: 'gateway', entry: 'gateway/main.ts' },
];
const givenBrokers = Boolean(process.env.KAFKA_BROKERS);
const kafka = await ensureKafka();
process.env.KAFKA_BROKERS = kafka.brokers.join(',');
// The embedded broker's data may have been wiped while the database stayed: then its log is the truth.
await setUpSystem(say, { rebuildProjections: givenBrokers ? 'never' : 'if-foreign' }).catch(async (error: Error) => {
  say(`cannot start: ${error.message}`);
  await kafka.stop();
  process.exit(1);
});

// The legacy catalog and its change data capture: PostgreSQL on 5433 and a Connect worker on 8083, unless given.
const catalog = await ensureCatalogCapture({ log: (line) => console.log(line) }).catch(async (error: Error) => {
  say(`cannot start the catalog's change data capture: ${error.message}`);
  await kafka.stop();
  process.exit(1);
});

const children = new Map<string, ChildProcess>();
let stopping = false;
const width = Math.max(...PROCESSES.map((p) => p.name.length));
for (const { name, entry } of PROCESSES) {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, entry)], {
    cwd: root,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = `[${name.padEnd(width)}] `;
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) process.stdout.write(prefix + line + '\n');
    });
  }
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      say(`${name} exited (${signal ?? code}); stopping everything`);
      void stop(1);
    } else if (!children.size) void finish();
  });
  children.set(name, child);
}

await waitForGateway();
say('');
say(`GraphQL endpoint:   http://localhost:${gatewayPort()}/graphql  (POST; ws:// for subscriptions)`);
say(`Playground:         http://localhost:${gatewayPort()}/graphiql`);
say(`Health:             http://localhost:${gatewayPort()}/healthz`);
say('Ctrl-C stops everything.');

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

let exitCode = 0;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  say('stopping…');
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
  }, 10_000).unref();
  if (!children.size) await finish();
}

async function finish() {
  await catalog.stop();
  await kafka.stop();
  say('stopped');
  process.exit(exitCode);
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
