import type { TestProject } from 'vitest/node';
import { startInfrastructure } from './infrastructure.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const infrastructure = await startInfrastructure();
  console.log(`[test] using ${infrastructure.source}`);
  project.provide('kafkaBrokers', infrastructure.kafkaBrokers);
  project.provide('databaseUrl', infrastructure.databaseUrl);
  return () => infrastructure.stop();
}
