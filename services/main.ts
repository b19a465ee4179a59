/**
 * `tsx services/main.ts <service>... [--only=handler|projector]`: runs the named services in one process
 * (`all`: every service of every domain), each with its own consumer groups.
 */
import { findProcess, loadProcesses } from './runtimes.ts';
import { runServiceProcess } from './shared/process.ts';

const names = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
if (!names.length) {
  console.error('usage: tsx services/main.ts <service>... | all [--only=handler|projector]');
  process.exit(2);
}
await runServiceProcess(names.includes('all') ? await loadProcesses() : await Promise.all(names.map(findProcess)));
