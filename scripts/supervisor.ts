/**
 * Runs the system's processes and restarts any that exits without being asked to (a crash, an OOM kill, a
 * SIGKILL), with exponential backoff. Used by `npm start` and by `npm run chaos`, which kills processes on
 * purpose and relies on this to bring them back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { backoffMs } from '../services/shared/retry.ts';

const root = resolve(import.meta.dirname, '..');

export interface SupervisedProcess {
  name: string;
  /** A TypeScript entry file, relative to the repository root; run with tsx. */
  entry: string;
  /** Its arguments. */
  args?: string[];
}

export interface SupervisorOptions {
  /** Environment of every child. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Where the supervisor's own lines go (started, exited, restarting). Default: stdout with `[start] `. */
  log?: (line: string) => void;
  /** Where each child's output lines go. Default: stdout, prefixed with the padded process name. */
  output?: (name: string, line: string) => void;
  /** First restart delay, in ms. Default: 1000; doubled after each restart in a row. */
  initialBackoffMs?: number;
  /** Longest restart delay, in ms. Default: 30000. */
  maxBackoffMs?: number;
  /** A process that ran this long (ms) before exiting is restarted at the initial delay again. Default: 60000. */
  resetAfterMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL, in ms. Default: 10000. */
  killAfterMs?: number;
}

export interface Supervisor {
  /** Sends a signal to a running process (the supervisor then restarts it unless it is stopping). */
  kill(name: string, signal: NodeJS.Signals): void;
  /** The pid of the process's current instance, or undefined while it is down. */
  pid(name: string): number | undefined;
  /** How many times the process was restarted since the supervisor started. */
  restarts(name: string): number;
  /** Stops every process (SIGTERM, then SIGKILL after `killAfterMs`) and restarts none; resolves once all exited. */
  stop(): Promise<void>;
}

interface Slot {
  spec: SupervisedProcess;
  child?: ChildProcess;
  startedAt: number;
  restarts: number;
  /** Restarts in a row without a long-enough run in between: the exponent of the backoff. */
  streak: number;
  timer?: NodeJS.Timeout;
}

/**
 * The processes of `npm start`: the services (in one process, or each in its own), then the gateway. A service named
 * in `instances` runs apart from the others, in that many processes of its own (`dispatch`, `dispatch-2`, …), which
 * share its partitions as one consumer group.
 */
export function systemProcesses(serviceNames: string[], layout: 'one' | 'each', instances: Record<string, number> = {}): SupervisedProcess[] {
  const apart = serviceNames.filter((name) => (instances[name] ?? 1) > 1);
  const rest = serviceNames.filter((name) => !apart.includes(name));
  const services = layout === 'one'
    ? (rest.length ? [{ name: 'services', entry: 'services/main.ts', args: rest }] : [])
    : rest.map((name) => ({ name, entry: 'services/main.ts', args: [name] }));
  const copies = apart.flatMap((name) => Array.from({ length: instances[name] }, (_, i) => ({
    name: i ? `${name}-${i + 1}` : name, entry: 'services/main.ts', args: [name],
  })));
  return [...services, ...copies, { name: 'gateway', entry: 'gateway/main.ts' }];
}

/**
 * SERVICE_INSTANCES, `service=N` entries separated by commas (e.g. `dispatch=2`): services that run in N processes of
 * their own. Default: none (each service in one process, as SERVICE_PROCESSES says).
 */
export function parseServiceInstances(raw: string | undefined, serviceNames: readonly string[]): Record<string, number> {
  const instances: Record<string, number> = {};
  for (const entry of (raw ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const match = /^([a-z0-9-]+)=(\d+)$/.exec(entry);
    if (!match) throw new Error(`SERVICE_INSTANCES: "${entry}" is not service=N (e.g. dispatch=2)`);
    const [, name, count] = match;
    if (!serviceNames.includes(name)) throw new Error(`SERVICE_INSTANCES: no service "${name}"; known: ${serviceNames.join(', ')}`);
    if (Number(count) < 1 || Number(count) > 16) throw new Error(`SERVICE_INSTANCES: ${name} takes 1 to 16 instances, not ${count}`);
    instances[name] = Number(count);
  }
  return instances;
}

export function superviseProcesses(processes: SupervisedProcess[], options: SupervisorOptions = {}): Supervisor {
  const log = options.log ?? ((line: string) => console.log(`[start] ${line}`));
  const width = Math.max(...processes.map((p) => p.name.length));
  const output = options.output ?? ((name: string, line: string) => process.stdout.write(`[${name.padEnd(width)}] ${line}\n`));
  const initial = options.initialBackoffMs ?? 1000;
  const max = options.maxBackoffMs ?? 30_000;
  const resetAfter = options.resetAfterMs ?? 60_000;
  const slots = new Map<string, Slot>(processes.map((spec) => [spec.name, { spec, startedAt: 0, restarts: 0, streak: 0 }]));
  let stopping = false;
  const exits = new Set<Promise<void>>();

  function launch(slot: Slot) {
    // CPU_PROFILE_DIR: every process writes a V8 CPU profile there when it stops (for measuring before optimizing).
    const profile = process.env.CPU_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', resolve(process.env.CPU_PROFILE_DIR)] : [];
    const child = spawn(process.execPath, [...profile, '--import', 'tsx', resolve(root, slot.spec.entry), ...(slot.spec.args ?? [])], {
      cwd: root,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a terminal's Ctrl-C reaches only the supervisor, which stops the children
      // itself, so an exit while stopping is never mistaken for a crash.
      detached: true,
    });
    slot.child = child;
    slot.startedAt = Date.now();
    for (const stream of [child.stdout!, child.stderr!]) {
      let rest = '';
      stream.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop()!;
        for (const line of lines) output(slot.spec.name, line);
      });
    }
    const exited = new Promise<void>((done) => {
      child.once('exit', (code, signal) => {
        slot.child = undefined;
        done();
        if (stopping) return;
        // A long run means the last crash is history: start the backoff over.
        if (Date.now() - slot.startedAt >= resetAfter) slot.streak = 0;
        slot.streak += 1;
        const delay = backoffMs(slot.streak, { firstMs: initial, maxMs: max });
        slot.restarts += 1;
        log(`${slot.spec.name} exited (${signal ?? `code ${code}`}); restarting in ${seconds(delay)} (restart ${slot.restarts})`);
        slot.timer = setTimeout(() => {
          slot.timer = undefined;
          if (!stopping) launch(slot);
        }, delay);
      });
    });
    exits.add(exited);
    void exited.then(() => exits.delete(exited));
  }

  for (const slot of slots.values()) launch(slot);

  const slotOf = (name: string) => {
    const slot = slots.get(name);
    if (!slot) throw new Error(`no supervised process "${name}"; known: ${[...slots.keys()].join(', ')}`);
    return slot;
  };

  return {
    kill(name, signal) {
      slotOf(name).child?.kill(signal);
    },
    pid(name) {
      return slotOf(name).child?.pid;
    },
    restarts(name) {
      return slotOf(name).restarts;
    },
    async stop() {
      stopping = true;
      const children: ChildProcess[] = [];
      for (const slot of slots.values()) {
        clearTimeout(slot.timer);
        if (slot.child) children.push(slot.child);
      }
      for (const child of children) child.kill('SIGTERM');
      const hard = setTimeout(() => children.forEach((child) => child.kill('SIGKILL')), options.killAfterMs ?? 10_000);
      await Promise.all([...exits]);
      clearTimeout(hard);
    },
  };
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
