import { defineConfig } from 'prisma/config';
import { databaseUrl } from './services/shared/config.ts';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: databaseUrl() },
});
