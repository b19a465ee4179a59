/**
 * A LISTEN connection to PostgreSQL that comes back by itself (liveness.ts, progress.ts): lost, it listens again
 * after `firstMs`, then twice as long after each failure, up to `maxMs`, until closed. `heard` says whether a
 * notification came on the connection listening now; from `lost` to the next `listening`, notifications are lost.
 */
import pg from 'pg';
import { backgroundSleep, retry, type Backoff } from '../services/shared/retry.ts';

type Handlers = { heard(payload: string, current: boolean): void; listening(): void; lost(): void };

export function keepListening(databaseUrl: string, channel: string, backoff: Backoff, on: Handlers) {
  let current: pg.Client | undefined;
  let closed = false;

  /** Listens once, or fails with why not. */
  async function listen() {
    if (closed) return;
    // Keep-alive: a connection that died without a word (a failover, a NAT timeout) must end in 'error', or its
    // silence would be trusted.
    const client = new pg.Client({ connectionString: databaseUrl, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    client.on('notification', (message) => { if (message.payload) on.heard(message.payload, current === client); });
    client.on('error', () => {
      if (current === client) {
        current = undefined;
        on.lost();
      }
      void client.end().catch(() => {});
      void backgroundSleep(backoff.firstMs).then(listenUntilListening);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (error) {
      void client.end().catch(() => {});
      throw error;
    }
    if (closed) return void client.end().catch(() => {});
    current = client;
    on.listening();
  }

  /** Listens, trying again until it does or is closed. */
  const listenUntilListening = () => retry(listen, { ...backoff, pause: backgroundSleep });

  return {
    listen,
    listenUntilListening,
    /** The connection listening now: another one (or none) once it was lost. */
    connection: () => current,
    async close() {
      closed = true;
      await current?.end().catch(() => {});
    },
  };
}
