import type { TestProject } from 'vitest/node';
import { ensureLegacyDatabase } from '../../infra/legacy-postgres.ts';
import { ensureSchemaRegistry } from '../../infra/registry/registry.ts';
import { startInfrastructure } from './infrastructure.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    databaseUrl: string;
    /** The legacy catalog's PostgreSQL (wal_level=logical); a test file makes its own database on it. */
    legacyDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const infrastructure = await startInfrastructure();
  console.log(`[test] using ${infrastructure.source}`);
  project.provide('kafkaBrokers', infrastructure.kafkaBrokers);
  project.provide('databaseUrl', infrastructure.databaseUrl);
  // LEGACY_DATABASE_URL, or the project's own instance on 5433, with or without Docker (Connect too comes from
  // our jars in every case: test/cdc.int.test.ts starts its own worker so it can restart it).
  const legacy = await ensureLegacyDatabase({ log: (line) => console.log(`[legacy-postgres] ${line}`) });
  project.provide('legacyDatabaseUrl', legacy.url);
  // SCHEMA_REGISTRY_URL, or the project's own Apicurio on 8081: every process checks its contracts against it.
  const registry = await ensureSchemaRegistry({ log: (line) => console.log(`[registry] ${line}`) });
  return async () => {
    await registry.stop();
    await legacy.stop();
    await infrastructure.stop();
  };
}
