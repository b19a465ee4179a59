import { defineConfig } from 'prisma/config';
import { databaseUrl } from './services/shared/config.ts';

export default defineConfig({
  schema: 'prisma/schema',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: databaseUrl() },
});
