/**
 * Generates the Prisma client when it is missing or older than a file of prisma/schema/. Runs offline:
 * `prisma generate` only needs PRISMA_SCHEMA_ENGINE_BINARY to name an existing file, which it does not run.
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

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) ensurePrismaClient();
