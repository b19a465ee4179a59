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
