/** How published messages become produce requests, and each message's log position is read off the answer. */
import type { IHeaders, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs';
import type { DeadLetterSource, Forwarded } from './bus.ts';
import { maxMessageBytes } from './config.ts';
import { SystemError } from './errors.ts';
import { RUNTIME_TOPICS, type CommandReply, type LogPosition, type Outgoing } from './messages.ts';
import { subjectOf } from './schemas.ts';
import { frame, type SchemaIds } from './wire.ts';

/** A message ready for a request, its partition chosen; `cause` keeps one cause's events in one request. */
export type Placed = {
  physical: string; partition: number; key: string; value: string | Buffer | null; headers: IHeaders; timestamp?: string; cause: string;
};

/**
 * Where messages go: their physical topic, under `prefix`, and the partition `partitionFor` chooses for their key;
 * envelopes and replies in the wire format, tagged with their subject's schema id. A forwarded message and a dead
 * letter keep the bytes they were read with.
 */
export function placement(prefix: string, partitionFor: (physical: string, key: string) => Promise<number>, ids: SchemaIds) {
  const framed = async (physical: string, value: unknown) => frame(await ids.writerId(subjectOf('', physical)), JSON.stringify(value));
  return {
    async place(message: Outgoing | Forwarded): Promise<Placed> {
      const physical = prefix + message.topic;
      if ('envelope' in message) {
        const { envelope } = message;
        const key = envelope.aggregateId;
        const cause = envelope.kind === 'event' ? envelope.causationId : envelope.commandId;
        const partition = await partitionFor(physical, message.partitionKey ?? key);
        return { physical, partition, key, value: await framed(physical, envelope), headers: { type: envelope.type }, cause };
      }
      const { key, value, headers, timestamp } = message;
      return { physical, partition: await partitionFor(physical, key), key, value, headers, timestamp, cause: `${physical}:${key}` };
    },
    async placeReplies(replies: CommandReply[]): Promise<Placed[]> {
      const physical = prefix + RUNTIME_TOPICS.commandReplies;
      return Promise.all(replies.map(async (reply) => ({
        physical, partition: await partitionFor(physical, reply.commandId), key: reply.commandId, value: await framed(physical, reply), headers: {}, cause: reply.commandId,
      })));
    },
    deadLetter: (source: DeadLetterSource, reason: string): ProducerRecord => ({
      topic: prefix + RUNTIME_TOPICS.deadLetters,
      acks: -1,
      messages: [{
        key: `${source.topic}:${source.partition}:${source.offset}`,
        value: source.value,
        headers: { reason, consumer: source.consumer, sourceTopic: source.topic, sourcePartition: String(source.partition), sourceOffset: source.offset },
      }],
    }),
  };
}

export type Placement = ReturnType<typeof placement>;

/**
 * Concurrent publishes share requests: the idempotent producer keeps one request in flight, so while `send` is busy
 * the next call gathers everything enqueued meanwhile (N callers, one round trip). Each caller gets its own positions.
 */
export function publishQueue(send: (placed: Placed[]) => Promise<LogPosition[]>): (placed: Placed[]) => Promise<LogPosition[]> {
  const waiting: { placed: Placed[]; done(positions: LogPosition[]): void; fail(error: unknown): void }[] = [];
  let sending = false;

  async function drain(): Promise<void> {
    if (sending) return;
    sending = true;
    try {
      while (waiting.length) {
        const callers = waiting.splice(0);
        let positions: LogPosition[];
        try {
          positions = await send(callers.flatMap((c) => c.placed));
        } catch (error) {
          for (const caller of callers) caller.fail(error);
          continue;
        }
        let from = 0;
        for (const caller of callers) caller.done(positions.slice(from, (from += caller.placed.length)));
      }
    } finally {
      sending = false;
    }
  }

  return (placed) => new Promise<LogPosition[]>((done, fail) => {
    waiting.push({ placed, done, fail });
    void drain();
  });
}

/**
 * The broker refuses a partition's record batch over message.max.bytes, however small each message: a backlog would
 * fail every batch. So requests of at most `budget` bytes, in order, never splitting one cause's events.
 */
export function byRequestSize(placed: Placed[], budget: number): Placed[][] {
  const requests: Placed[][] = [];
  let bytes = 0;
  placed.forEach((item, i) => {
    const size = (item.value === null ? 0 : Buffer.byteLength(item.value)) + item.key.length + 64;
    if (!requests.length || (bytes + size > budget && item.cause !== placed[i - 1].cause)) {
      requests.push([]);
      bytes = 0;
    }
    requests.at(-1)!.push(item);
    bytes += size;
  });
  return requests;
}

/** Sends placed messages in requests the broker takes, one after another; answers each one's position. */
export async function sendPlaced(sendBatch: (batch: ProducerBatch, count: number) => Promise<RecordMetadata[]>, placed: Placed[]): Promise<LogPosition[]> {
  const positions: LogPosition[] = [];
  for (const request of byRequestSize(placed, maxMessageBytes() / 2)) {
    const byTopic = new Map<string, Placed[]>();
    // Pushed, not copied: a request gathers thousands of positions at once, and a copy per message was quadratic.
    for (const item of request) {
      const items = byTopic.get(item.physical);
      if (items) items.push(item);
      else byTopic.set(item.physical, [item]);
    }
    const metadata = await sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([physical, items]) => ({
        topic: physical,
        messages: items.map(({ key, partition, value, headers, timestamp }) => ({ key, partition, value, headers, timestamp })),
      })),
    }, request.length);
    // Within one request, a partition's messages get consecutive offsets from its base offset.
    const next = new Map(metadata.map((m) => [`${m.topicName}:${m.partition}`, BigInt(m.baseOffset ?? '0')]));
    for (const { physical, partition } of request) {
      const slot = `${physical}:${partition}`;
      const offset = next.get(slot);
      // kafkajs answers a produce it retried with the last attempt's partitions only: where these landed is unknown.
      if (offset === undefined) throw new SystemError('UNAVAILABLE', `Kafka did not say where the messages for ${slot} landed (a produce retried after a broker failed): sent again`, true);
      next.set(slot, offset + 1n);
      positions.push({ topic: physical, partition, offset: offset.toString() });
    }
  }
  return positions;
}
