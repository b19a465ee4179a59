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
  const remaining = new Map<number, bigint>(); // partition -> last offset still to read
  for (const { partition, low, high } of await bus.topicOffsets(physical)) {
    if (BigInt(high) > BigInt(low)) remaining.set(partition, BigInt(high) - 1n);
  }
  if (!remaining.size) return [];
  const group = `reader.${randomUUID()}`;
  const consumer = bus.createConsumer(group);
  const messages: LogMessage[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: physical, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${physical} did not reach its end within ${timeoutMs} ms`)), timeoutMs);
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        clearTimeout(timer);
        reject(payload.error);
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const last = remaining.get(batch.partition);
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
            if (last !== undefined && BigInt(batch.lastOffset()) >= last) remaining.delete(batch.partition);
            if (!remaining.size) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await bus.deleteGroup(group);
  }
  return messages.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = (Array.isArray(value) ? value : [value]).map((v) => v.toString()).join(',');
  }
  return out;
}
