/**
 * What the system under benchmark spends on a load phase: CPU time per process, read from /proc (Linux), and
 * Kafka requests by API, from the files its processes write to KAFKA_REQUEST_STATS_DIR (services/shared/bus.ts).
 *
 * CPU: the system's processes (the gateway and every service), the Kafka broker, and the PostgreSQL backends
 * serving its database. The difference of two snapshots over a load phase, divided by the work done, is the CPU cost of
 * one unit of work, whatever the other load on the machine.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

export type CpuSnapshot = Map<string, number>;

interface ProcessStat { pid: number; parent: number; ticks: number; command: string }

function readStat(pid: number): ProcessStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) may contain spaces and parentheses: the fields after it start at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    // After the command: state(3) ppid(4) … utime(14) stime(15), so index = field - 3.
    return { pid, parent: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), command };
  } catch {
    return undefined; // exited meanwhile
  }
}

function processes(): ProcessStat[] {
  if (process.platform !== 'linux') return [];
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map((name) => readStat(Number(name))).filter((p) => p !== undefined);
}

/** What a process of the system is, from its command line. */
function labelOf(command: string): string {
  const services = /services\/main\.ts (.+)$/.exec(command.trim());
  if (services) {
    const names = services[1].split(' ').filter((arg) => !arg.startsWith('-'));
    return names.length === 1 ? names[0] : 'services';
  }
  if (command.includes('gateway/main.ts')) return 'gateway';
  if (command.includes('kafka.Kafka')) return 'broker';
  return 'other';
}

/** The pids of `root` and every process it started, and they started (the supervisor detaches its children). */
function descendants(all: ProcessStat[], root: number | undefined): Set<number> {
  const found = new Set<number>(root === undefined ? [] : [root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (!found.has(p.pid) && found.has(p.parent)) {
        found.add(p.pid);
        grew = true;
      }
    }
  }
  return found;
}

/**
 * Seconds of CPU (user + system) per part of the system so far: `root` (scripts/start.ts) and its
 * descendants, the broker (the `kafka.Kafka` process), and PostgreSQL (every backend connected to
 * `databaseUrl`'s database). The broker may serve others too: its share is the whole broker's.
 */
export async function cpuSnapshot(root: number | undefined, databaseUrl: string): Promise<CpuSnapshot> {
  const database = new URL(databaseUrl).pathname.slice(1);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const backends = new Set<number>(
    (await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])).rows.map((r) => r.pid),
  );
  await client.end();
  const snapshot: CpuSnapshot = new Map();
  const all = processes();
  const system = descendants(all, root);
  // Several instances of one service (SERVICE_INSTANCES) are kept apart, oldest pid first: `dispatch`, `dispatch#2`.
  const instancesSeen = new Map<string, number>();
  for (const p of all.sort((a, b) => a.pid - b.pid)) {
    let label: string | undefined;
    if (backends.has(p.pid)) label = 'postgres';
    else if (system.has(p.pid)) {
      label = labelOf(p.command);
      if (label !== 'other' && label !== 'broker') {
        const seen = (instancesSeen.get(label) ?? 0) + 1;
        instancesSeen.set(label, seen);
        if (seen > 1) label = `${label}#${seen}`;
      }
    } else if (p.command.includes('kafka.Kafka')) label = 'broker';
    if (label) snapshot.set(label, (snapshot.get(label) ?? 0) + p.ticks / TICKS_PER_SECOND);
  }
  return snapshot;
}

/** Seconds of CPU (user + system) one process has spent so far; 0 once it has exited. */
export function processCpuSeconds(pid: number): number {
  return (readStat(pid)?.ticks ?? 0) / TICKS_PER_SECOND;
}

/** CPU seconds per part between two snapshots (a process that restarted in between counts from zero). */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Map<string, number> {
  return new Map([...after].map(([label, seconds]) => [label, Math.max(0, seconds - (before.get(label) ?? 0))]));
}

/** "12.3 ms (broker 4.1, gateway 3.0, …)": CPU per unit of work, biggest part first. */
export function describeCpuPer(spent: Map<string, number>, units: number): { totalMs: number; parts: Record<string, number>; text: string } {
  const parts = Object.fromEntries([...spent].sort((a, b) => b[1] - a[1]).map(([label, seconds]) => [label, (seconds * 1000) / units]));
  const totalMs = Object.values(parts).reduce((a, b) => a + b, 0);
  const text = `${totalMs.toFixed(1)} ms (${Object.entries(parts).map(([label, msPer]) => `${label} ${msPer.toFixed(1)}`).join(', ')})`;
  return { totalMs, parts, text };
}

/** Kafka requests sent so far by every process of the system, by API name (each process rewrites its file every second). */
export function requestTotals(dir: string | undefined): Record<string, number> {
  const totals: Record<string, number> = {};
  if (!dir || !existsSync(dir)) return totals;
  for (const file of readdirSync(dir)) {
    let counts: Record<string, number>;
    try {
      counts = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    } catch {
      continue; // caught mid-write: the next snapshot has it
    }
    for (const [api, n] of Object.entries(counts)) totals[api] = (totals[api] ?? 0) + n;
  }
  return totals;
}

/** Requests per unit of work between two totals, for the APIs that matter (the rest summed as `other`). */
export function requestsPer(before: Record<string, number>, after: Record<string, number>, units: number): Record<string, number> {
  const per: Record<string, number> = {};
  for (const [api, n] of Object.entries(after)) {
    const name = ['Produce', 'Fetch', 'OffsetCommit', 'Heartbeat'].includes(api) ? api : 'other';
    per[name] = (per[name] ?? 0) + (n - (before[api] ?? 0)) / units;
  }
  return per;
}
