/**
 * Where the log ends now (GatewayServices.logEnd). Callers in one macrotask share one request per topic: a request
 * already sent is never joined, since its answer may be older than the call.
 */
import type { Bus } from '../services/shared/bus.ts';
import type { LogPosition } from '../services/shared/messages.ts';

export function createLogEnd(bus: Bus): (topics: readonly string[]) => Promise<LogPosition[]> {
  let gathering = new Map<string, Promise<LogPosition[]>>();

  function endOf(physical: string): Promise<LogPosition[]> {
    let end = gathering.get(physical);
    if (!end) {
      if (!gathering.size) setImmediate(() => (gathering = new Map()));
      end = new Promise<void>((sent) => setImmediate(sent)).then(async () =>
        (await bus.topicOffsets(physical))
          .filter(({ low, high }) => BigInt(high) > BigInt(low))
          .map(({ partition, high }) => ({ topic: physical, partition, offset: String(BigInt(high) - 1n) })));
      gathering.set(physical, end);
    }
    return end;
  }

  return async (topics) => (await Promise.all(topics.map((topic) => endOf(bus.topic(topic))))).flat();
}
