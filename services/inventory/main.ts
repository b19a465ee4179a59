import { serviceParts } from '../index.ts';
import { runServiceProcess } from '../shared/process.ts';

await runServiceProcess(serviceParts('inventory'));
