/** A one-line logger; the start script prefixes each line with the process name. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export function createLogger(name: string): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>) => {
    if (process.env.LOG_LEVEL === 'silent' && level !== 'error') return;
    const suffix = fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
    (level === 'info' ? console.log : console.error)(`${level.padEnd(5)} ${name}: ${message}${suffix}`);
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

/** How often `waitingOn` says that a step still waits. */
export const STILL_WAITING_EVERY_MS = 15_000;

/**
 * Awaits `work`, warning every STILL_WAITING_EVERY_MS while it has not settled: a batch held up on the broker or
 * the database says so, and on what, instead of going quiet (readiness reports the stall; this says where).
 */
export async function waitingOn<T>(log: Logger, what: string, work: Promise<T>): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => log.warn(`${what}: still waiting after ${Math.round((Date.now() - started) / 1000)} s`), STILL_WAITING_EVERY_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
