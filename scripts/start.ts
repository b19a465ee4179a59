/**
 * `npm start`: the whole system on this machine. Starts Kafka (unless KAFKA_BROKERS is set), creates the
 * database, applies migrations, creates topics, seeds stock on an empty system, then runs every service
 * and the gateway as its own process with prefixed logs. Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ensureKafka } from '../infra/kafka/broker.ts';
import { migrate } from '../infra/database.ts';
import { createBus, ensureTopics, withKafkaRetries } from '../services/shared/bus.ts';
import { databaseUrl, gatewayPort } from '../services/shared/config.ts';
import { createCommand, TOPICS } from '../services/shared/messages.ts';
import { ensurePrismaClient } from './prepare.ts';

const root = resolve(import.meta.dirname, '..');
const SEED_STOCK = { JUMPERS: 10, UNDERPANTS: 75, STOCKINGS: 20 };
// The service list lives in services/index.ts; reading names here keeps this script free of Prisma imports.
const PROCESSES = ['orders', 'inventory', 'fraud', 'order-details'].map((name) => ({ name, entry: `services/${name}/main.ts` }));
PROCESSES.push({ name: 'gateway', entry: 'gateway/main.ts' });

const say = (line: string) => console.log(`[start] ${line}`);

ensurePrismaClient();
const kafka = await ensureKafka();
process.env.KAFKA_BROKERS = kafka.brokers.join(',');
say(`applying migrations to ${redact(databaseUrl())}`);
await migrate(databaseUrl(), say);
const bus = await createBus({ clientId: 'start' });
const created = await ensureTopics(bus.kafka);
if (created.length) say(`created topics ${created.join(', ')}`);
await seedStock();
await bus.close();

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
say(`Playground:         http://localhost:${gatewayPort()}/graphql  (open in a browser)`);
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
  await kafka.stop();
  say('stopped');
  process.exit(exitCode);
}

async function seedStock() {
  const admin = bus.kafka.admin();
  await admin.connect();
  const offsets = await withKafkaRetries(() => admin.fetchTopicOffsets(bus.topic(TOPICS.inventoryEvents)));
  const commands = await withKafkaRetries(() => admin.fetchTopicOffsets(bus.topic(TOPICS.inventoryCommands)));
  await admin.disconnect();
  const empty = [...offsets, ...commands].every((p) => p.high === p.low);
  if (!empty) return;
  // Commands, like any client's: the inventory service applies them once it is up.
  await bus.publish(
    Object.entries(SEED_STOCK).map(([product, quantity]) => createCommand({ type: 'AddInventory', data: { product, quantity } })),
  );
  say(`seeded stock: ${Object.entries(SEED_STOCK).map(([p, q]) => `${p} ${q}`).join(', ')}`);
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

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
