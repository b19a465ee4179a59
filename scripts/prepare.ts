/**
 * Generates the Prisma client when it is missing or older than prisma/schema.prisma. Runs offline:
 * `prisma generate` only needs PRISMA_SCHEMA_ENGINE_BINARY to name an existing file, which it does not run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

export function ensurePrismaClient(): void {
  const schema = resolve(root, 'prisma/schema.prisma');
  const client = resolve(root, 'generated/prisma/client.ts');
  if (existsSync(client) && statSync(client).mtimeMs >= statSync(schema).mtimeMs) return;
  console.log('generating the Prisma client…');
  const result = spawnSync(resolve(root, 'node_modules/.bin/prisma'), ['generate'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath },
  });
  if (result.status !== 0) throw new Error('prisma generate failed: run `npm install` first');
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) ensurePrismaClient();
