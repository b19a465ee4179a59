/**
 * What `npm test` needs before it starts, got the way the test run gets Kafka (by itself, on first use):
 * - the Prisma client, generated when it is missing or older than a file of prisma/schema/. Runs offline:
 *   `prisma generate` only needs PRISMA_SCHEMA_ENGINE_BINARY to name an existing file, which it does not run;
 * - Debian's Chromium, which the playground's browser tests drive (test/support/browser.ts): installed with apt
 *   when it is missing and this runs as root; otherwise the run stops with the one command to run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

export function ensurePrismaClient(): void {
  const folder = resolve(root, 'prisma/schema');
  const newest = Math.max(...readdirSync(folder).map((file) => statSync(resolve(folder, file)).mtimeMs));
  const client = resolve(root, 'generated/prisma/client.ts');
  if (existsSync(client) && statSync(client).mtimeMs >= newest) return;
  console.log('generating the Prisma client…');
  const result = spawnSync(resolve(root, 'node_modules/.bin/prisma'), ['generate'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath },
  });
  if (result.status !== 0) throw new Error('prisma generate failed: run `npm install` first');
}

/** Where the browser tests expect Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** `path` and `root` are there for the test of the refusal. */
export function ensureChromium({ path = CHROMIUM, root = process.getuid?.() === 0 } = {}): void {
  if (existsSync(path)) return;
  const command = 'apt-get update && apt-get install -y chromium';
  if (!root || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`${path} is missing: the playground's browser tests drive Debian's Chromium. Install it with \`sudo sh -c '${command}'\` and run npm test again`);
  }
  console.log(`installing Debian's Chromium for the browser tests (${command}; a minute or two)…`);
  for (const args of [['update', '-q'], ['install', '-y', '-q', 'chromium']]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${result.status}): install Chromium with \`${command}\` and run npm test again`);
  }
  if (!existsSync(path)) throw new Error(`apt-get installed chromium, but ${path} is still missing: check the package`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  try {
    ensurePrismaClient();
    ensureChromium();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
