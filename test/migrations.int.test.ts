/**
 * The SQL migrations are applied as `prisma migrate deploy` would, and they match prisma/schema/*.prisma:
 * every model and field has a column of a compatible type (a drift fails here, not in production).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../infra/database.ts';
import { isolate, type Isolation } from './support/system.ts';

let isolation: Isolation;
let db: pg.Client;
beforeAll(async () => {
  isolation = await isolate(); // applies the migrations to a fresh database
  db = new pg.Client({ connectionString: isolation.databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await isolation?.drop();
});

interface Field { name: string; column: string; type: string; optional: boolean; list: boolean; dbType?: string }
interface Model { name: string; table: string; fields: Field[] }

/** A small reader of the parts of the Prisma schema language this project uses. */
function readPrismaSchema(text: string): { models: Model[]; enums: Set<string> } {
  const enums = new Set([...text.matchAll(/^enum\s+(\w+)\s*\{/gm)].map((m) => m[1]));
  const models = [...text.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)].map(([, name, body]) => {
    const table = body.match(/@@map\("([^"]+)"\)/)?.[1] ?? name;
    const fields = body
      .split('\n')
      .map((line) => line.replace(/\/\/.*$/, '').trim())
      .filter((line) => line && !line.startsWith('@@') && !line.startsWith('///'))
      .map((line) => {
        const [fieldName, rawType] = line.split(/\s+/);
        const type = rawType.replace(/[?[\]]/g, '');
        return {
          name: fieldName,
          column: line.match(/@map\("([^"]+)"\)/)?.[1] ?? fieldName,
          type,
          optional: rawType.endsWith('?'),
          list: rawType.endsWith('[]'),
          dbType: line.match(/@db\.(\w+)/)?.[1],
        };
      });
    return { name, table, fields };
  });
  return { models, enums };
}

// Prisma scalar (or @db native type) → PostgreSQL's information_schema data_type.
const COLUMN_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Boolean: 'boolean',
  DateTime: 'timestamp without time zone',
  Timestamptz: 'timestamp with time zone',
  Json: 'jsonb',
  Decimal: 'numeric',
};

// The element type of an array column (its udt_name), per Prisma scalar list.
const ARRAY_TYPES: Record<string, string> = { String: '_text', Int: '_int4', BigInt: '_int8', Boolean: '_bool', Float: '_float8' };

describe('migrations', () => {
  it('create every model and field of schema.prisma with a compatible column', async () => {
    const folder = resolve(import.meta.dirname, '../prisma/schema');
    const { models, enums } = readPrismaSchema(readdirSync(folder).map((file) => readFileSync(resolve(folder, file), 'utf8')).join('\n'));
    expect(models.length).toBeGreaterThan(0);
    const { rows } = await db.query<{ table_name: string; column_name: string; data_type: string; udt_name: string; is_nullable: string }>(
      `SELECT table_name, column_name, data_type, udt_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public'`,
    );
    const columns = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r]));
    const problems: string[] = [];
    for (const model of models) {
      for (const field of model.fields) {
        if (field.list && !enums.has(field.type) && !COLUMN_TYPES[field.type]) continue; // a relation
        const column = columns.get(`${model.table}.${field.column}`);
        if (!column) {
          problems.push(`${model.name}.${field.name}: no column ${model.table}.${field.column}`);
          continue;
        }
        // A scalar list is an array column, nullable as Prisma's migrations make it (the list itself is never null).
        const expected = field.list ? 'ARRAY' : enums.has(field.type) ? 'USER-DEFINED' : COLUMN_TYPES[field.dbType ?? field.type];
        if (field.list && column.udt_name !== ARRAY_TYPES[field.type]) {
          problems.push(`${model.name}.${field.name}: array of ${column.udt_name}, schema wants ${field.type}[]`);
        }
        if (column.data_type !== expected) problems.push(`${model.name}.${field.name}: column is ${column.data_type}, schema wants ${expected}`);
        if (enums.has(field.type) && column.udt_name !== field.type) problems.push(`${model.name}.${field.name}: enum ${column.udt_name}, schema wants ${field.type}`);
        if (!field.list && (column.is_nullable === 'YES') !== field.optional) problems.push(`${model.name}.${field.name}: nullability differs`);
      }
    }
    const known = new Set(models.flatMap((m) => m.fields.map((f) => `${m.table}.${f.column}`)));
    for (const key of columns.keys()) {
      if (!key.startsWith('_prisma_migrations.') && !known.has(key)) problems.push(`column ${key} is not in schema.prisma`);
    }
    expect(problems).toEqual([]);
  });

  it('record themselves in _prisma_migrations with the checksums prisma migrate deploy uses', async () => {
    const { rows } = await db.query(`SELECT migration_name, checksum, finished_at, applied_steps_count, rolled_back_at FROM _prisma_migrations ORDER BY migration_name`);
    const files = readMigrations();
    expect(rows.map((r) => r.migration_name)).toEqual(files.map((f) => f.name));
    for (const [i, row] of rows.entries()) {
      const sql = readFileSync(resolve(import.meta.dirname, '../prisma/migrations', row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.checksum).toBe(files[i].checksum);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
  });

  it('apply nothing the second time', async () => {
    expect(await migrate(isolation.databaseUrl)).toEqual([]);
  });
});
