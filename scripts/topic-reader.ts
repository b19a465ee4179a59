/**
 * Reads a whole topic, from its first retained message to the end it had when the read began, with a
 * throwaway consumer group that is deleted afterwards. For operator tools and checks, not for the runtime.
 */
import { randomUUID } from 'node:crypto';
import type { IHeaders } from 'kafkajs';
import type { Bus } from '../services/shared/bus.ts';

export interface LogMessage {
  topic: string;
  partition: number;
  offset: string;
  /** Milliseconds since the epoch, as the broker recorded it. */
  timestamp: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Every message of a physical topic up to its current end, ordered by partition then offset. */
export async function readTopic(bus: Bus, physical: string, timeoutMs = 60_000): Promise<LogMessage[]> {
  return readTopics(bus, [physical], timeoutMs);
}

/**
 * Every message of these physical topics up to the end each partition had when the read began, with one consumer,
 * ordered by topic (as given), partition, then offset. It reads `read_committed` (kafkajs's default,
 * `readUncommitted: false`): what a transaction aborted never shows, and a partition whose last offsets are
 * transaction markers or aborted messages (never delivered) counts as read once the consumer has passed them.
 */
export async function readTopics(bus: Bus, physicals: string[], timeoutMs = 60_000): Promise<LogMessage[]> {
  const remaining = new Map<string, bigint>(); // topic:partition -> last offset still to read
  for (const physical of physicals) {
    for (const { partition, low, high } of await bus.topicOffsets(physical)) {
      if (BigInt(high) > BigInt(low)) remaining.set(`${physical}:${partition}`, BigInt(high) - 1n);
    }
  }
  if (!remaining.size) return [];
  const wanted = new Set(physicals.filter((physical) => [...remaining.keys()].some((k) => k.startsWith(`${physical}:`))));
  const group = `reader.${randomUUID()}`;
  const consumer = bus.createConsumer(group);
  const messages: LogMessage[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...wanted], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${[...wanted].join(', ')} did not reach the end within ${timeoutMs} ms (${remaining.size} partition(s) left)`)), timeoutMs);
      const reached = (topic: string, partition: number, lastOffset: string) => {
        const key = `${topic}:${partition}`;
        const last = remaining.get(key);
        if (last !== undefined && BigInt(lastOffset) >= last) remaining.delete(key);
        if (!remaining.size) {
          clearTimeout(timer);
          resolve();
        }
      };
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        clearTimeout(timer);
        reject(payload.error);
      });
      // A fetch that held only markers or aborted messages reaches no eachBatch, only this (kafkajs moves past it).
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => reached(payload.topic, payload.partition, payload.lastOffset));
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const last = remaining.get(`${batch.topic}:${batch.partition}`);
            for (const message of batch.messages) {
              // Messages written after the read began are not ours to report.
              if (last === undefined || BigInt(message.offset) > last) continue;
              messages.push({
                topic: batch.topic,
                partition: batch.partition,
                offset: message.offset,
                timestamp: message.timestamp,
                key: message.key?.toString('utf8') ?? null,
                value: message.value,
                headers: headersOf(message.headers),
              });
            }
            reached(batch.topic, batch.partition, batch.lastOffset());
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await bus.deleteGroup(group);
  }
  const order = new Map(physicals.map((p, i) => [p, i]));
  return messages.sort((a, b) => order.get(a.topic)! - order.get(b.topic)! || a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = (Array.isArray(value) ? value : [value]).map((v) => v.toString()).join(',');
  }
  return out;
}
