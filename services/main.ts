/** `tsx services/main.ts <service> [--only=handler|projector]`: runs one service as its own process. */
import { findProcess } from './runtimes.ts';
import { runServiceProcess } from './shared/process.ts';

const name = process.argv[2];
if (!name || name.startsWith('-')) {
  console.error('usage: tsx services/main.ts <service> [--only=handler|projector]');
  process.exit(2);
}
await runServiceProcess(await findProcess(name));
