/**
 * The supervisor behind `npm start` and `npm run chaos`, on real processes: a killed process comes back after
 * a delay that doubles with each restart in a row, and stop() ends every process without restarting any.
 */
import { afterEach, expect, it } from 'vitest';
import { superviseProcesses, type Supervisor } from '../scripts/supervisor.ts';
import { isAlive, waitFor } from './support/system.ts';

let supervisor: Supervisor | undefined;
afterEach(async () => {
  await supervisor?.stop();
});

it('restarts a killed process with a doubling delay, and stop() ends it for good', async () => {
  const lines: string[] = [];
  const output: string[] = [];
  supervisor = superviseProcesses([{ name: 'worker', entry: 'test/fixtures/long-running.ts' }], {
    log: (line) => lines.push(line),
    output: (_name, line) => output.push(line),
    initialBackoffMs: 100,
  });
  await waitFor(() => output.some((l) => l.startsWith('up ')), 20_000, () => 'the first start');
  const first = supervisor.pid('worker')!;

  supervisor.kill('worker', 'SIGKILL');
  await waitFor(() => output.filter((l) => l.startsWith('up ')).length === 2, 20_000, () => 'a restart');
  const second = supervisor.pid('worker')!;
  expect(second).not.toBe(first);
  expect(supervisor.restarts('worker')).toBe(1);

  supervisor.kill('worker', 'SIGKILL');
  await waitFor(() => output.filter((l) => l.startsWith('up ')).length === 3, 20_000, () => 'a second restart');
  expect(lines).toEqual([
    'worker exited (SIGKILL); restarting in 0.1 s (restart 1)',
    'worker exited (SIGKILL); restarting in 0.2 s (restart 2)',
  ]);

  const last = supervisor.pid('worker')!;
  await supervisor.stop();
  supervisor = undefined;
  expect(isAlive(last)).toBe(false);
  expect(lines).toHaveLength(2); // stopping is not a crash: no restart line
});
