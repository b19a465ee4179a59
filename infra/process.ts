/** What the launchers of infra/ (broker, Connect worker, schema registry, legacy PostgreSQL) share about their processes. */
import type { ChildProcess } from 'node:child_process';

/** Asks a child to stop, and kills it if it has not within `killAfterMs`. */
export async function stopProcess(child: ChildProcess, killAfterMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(timer);
}

/**
 * `tsx <launcher>`: keeps what `running` started until Ctrl-C or SIGTERM, then stops it; when it reused one already
 * running, there is nothing to keep.
 */
export function keepInForeground(running: { started: boolean; stop(): Promise<void> }): void {
  if (!running.started) return;
  const shutdown = () => void running.stop().then(() => process.exit(0));
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  setInterval(() => {}, 1 << 30); // a launcher whose child holds no handle of this process still waits
}
