/**
 * `npm run dead-letters`: what the runtime set aside on `dead.letters`, and a way to try a message again.
 *
 *   npm run dead-letters [-- list] [--json]             every dead letter, oldest first
 *   npm run dead-letters -- replay <id> [<id>…] [--json] re-publishes each one's original value to its source
 *
 * A dead letter is named `<partition>:<offset>` in the dead-letters topic (it has several partitions, so an
 * offset alone can be ambiguous; a bare offset is accepted when only one partition has it). Uses KAFKA_BROKERS
 * and TOPIC_PREFIX like every process of the system. Exit codes: 0 done, 1 failed, 2 bad usage.
 */
import { resolve } from 'node:path';
import { Partitioners } from 'kafkajs';
import { createBus, type Bus } from '../services/shared/bus.ts';
import { RUNTIME_TOPICS } from '../services/shared/messages.ts';
import { jsonOf, schemaIds } from '../services/shared/wire.ts';
import { readTopic, type LogMessage } from './topic-reader.ts';

export interface DeadLetter {
  /** `<partition>:<offset>` in the dead-letters topic. */
  id: string;
  partition: number;
  offset: string;
  /** When it was set aside (ISO 8601). */
  time: string;
  /** The consumer (service or projector) that refused the message. */
  consumer: string;
  reason: string;
  source: { topic: string; partition: number; offset: string };
  /** The message's `type`, when its value is JSON that has one. */
  type: string | null;
  /** The original message's value, as it was. */
  value: Buffer | null;
}

export interface Replayed {
  id: string;
  consumer: string;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
}

/** Bad input from whoever called the tool: exit code 2. */
export class UsageError extends Error {}

/** Header the runtime reads: a message carrying it is delivered only to the consumer it names. */
export const REPLAY_FOR_HEADER = 'replay-for';
/** Which dead letter a replayed message came from, for whoever traces it later. */
export const REPLAY_OF_HEADER = 'replay-of';

export async function listDeadLetters(bus: Bus): Promise<DeadLetter[]> {
  const topic = bus.topic(RUNTIME_TOPICS.deadLetters);
  // Asked first: on a missing topic kafkajs retries for many seconds, then fails with a broker's riddle.
  const admin = bus.kafka.admin();
  await admin.connect();
  const exists = await admin.listTopics().then((topics) => topics.includes(topic)).finally(() => admin.disconnect());
  if (!exists) throw new Error(`topic ${topic} does not exist: check TOPIC_PREFIX and KAFKA_BROKERS, or set the system up (npm run setup)`);
  const letters = (await readTopic(bus, topic)).map(toDeadLetter);
  return letters.sort((a, b) => a.time.localeCompare(b.time) || a.partition - b.partition);
}

function toDeadLetter(message: LogMessage): DeadLetter {
  const h = message.headers;
  return {
    id: `${message.partition}:${message.offset}`,
    partition: message.partition,
    offset: message.offset,
    time: new Date(Number(message.timestamp)).toISOString(),
    consumer: h.consumer ?? '?',
    reason: h.reason ?? '',
    source: { topic: h.sourceTopic ?? '?', partition: Number(h.sourcePartition ?? -1), offset: h.sourceOffset ?? '?' },
    type: readableField(message.value, 'type'),
    value: message.value,
  };
}

/** A value for people: its schema id and the payload's text when it is in the wire format, else its bytes as text. */
function shown(value: Buffer | null): { schemaId: number | null; value: string | null } {
  if (!value) return { schemaId: null, value: null };
  try {
    const { id, payload } = schemaIds().unframe(value);
    return { schemaId: id, value: payload.toString('utf8') };
  } catch {
    return { schemaId: null, value: value.toString('utf8') };
  }
}

/** A string field of a JSON message value, or null when the value is unreadable (often why it is here) or has no such field. */
function readableField(value: Buffer | null, field: string): string | null {
  if (!value) return null;
  try {
    const parsed = jsonOf(schemaIds(), value);
    const found = (parsed as Record<string, unknown> | null)?.[field];
    return typeof found === 'string' ? found : null;
  } catch {
    return null;
  }
}

/** The dead letters named by `ids`; throws UsageError naming every id that matches none (or several). */
export function pick(letters: DeadLetter[], ids: string[]): DeadLetter[] {
  const problems: string[] = [];
  const chosen = ids.map((id) => {
    const matches = /^\d+:\d+$/.test(id) ? letters.filter((l) => l.id === id) : /^\d+$/.test(id) ? letters.filter((l) => l.offset === id) : [];
    if (!/^\d+(:\d+)?$/.test(id)) problems.push(`"${id}" is not a dead letter id: give <partition>:<offset> (or an offset) from the list`);
    else if (!matches.length) problems.push(`no dead letter ${id}: \`npm run dead-letters\` lists them`);
    else if (matches.length > 1) problems.push(`offset ${id} is on several partitions (${matches.map((m) => m.id).join(', ')}): give <partition>:<offset>`);
    return matches[0];
  });
  if (problems.length) throw new UsageError(problems.join('\n'));
  return chosen;
}

/**
 * Re-publishes each chosen dead letter's original value to its source topic and partition, with
 * `replay-for: <consumer>` so only the consumer that refused it sees it again. Checks every id before
 * publishing anything.
 *
 * The key is the value's `aggregateId` (every producer of the system keys by it), so the replay keys like the
 * original. The partition is the original's, from the dead letter's headers, so the replay lands beside the
 * original even when the value is not readable JSON (then the key is null).
 */
export async function replayDeadLetters(bus: Bus, ids: string[]): Promise<Replayed[]> {
  if (!ids.length) throw new UsageError('replay needs at least one dead letter id');
  const chosen = pick(await listDeadLetters(bus), ids);
  const producer = bus.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    const replayed: Replayed[] = [];
    for (const letter of chosen) {
      const key = readableField(letter.value, 'aggregateId');
      const [written] = await producer.send({
        topic: letter.source.topic,
        acks: -1,
        messages: [{
          key,
          value: letter.value,
          partition: letter.source.partition,
          headers: { [REPLAY_FOR_HEADER]: letter.consumer, [REPLAY_OF_HEADER]: `${bus.topic(RUNTIME_TOPICS.deadLetters)}:${letter.id}` },
        }],
      });
      replayed.push({ id: letter.id, consumer: letter.consumer, topic: letter.source.topic, partition: letter.source.partition, offset: written.baseOffset ?? '?', key });
    }
    return replayed;
  } finally {
    await producer.disconnect();
  }
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

const truncate = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const USAGE = 'usage: npm run dead-letters [-- list] [--json]\n       npm run dead-letters -- replay <partition:offset> [<partition:offset>…] [--json]';

/** The command line; returns the exit code. */
export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  const json = argv.includes('--json');
  const [command = 'list', ...args] = argv.filter((a) => a !== '--json');
  if (argv.includes('--help') || argv.includes('-h')) {
    out(USAGE);
    return 0;
  }
  if ((command !== 'list' && command !== 'replay') || (command === 'list' && args.length)) {
    console.error(`unknown arguments: ${argv.join(' ')}\n${USAGE}`);
    return 2;
  }
  const bus = await createBus({ clientId: 'dead-letters' });
  try {
    if (command === 'list') {
      const letters = await listDeadLetters(bus);
      if (json) {
        out(JSON.stringify(letters.map(({ value, ...letter }) => ({ ...letter, ...shown(value) })), null, 2));
      } else if (!letters.length) {
        out(`no dead letters on ${bus.topic(RUNTIME_TOPICS.deadLetters)}`);
      } else {
        out(table(
          ['id', 'time', 'consumer', 'source', 'type', 'reason'],
          letters.map((l) => [
            l.id, l.time, l.consumer, `${l.source.topic}/${l.source.partition}@${l.source.offset}`, l.type ?? '-', truncate(l.reason, 100),
          ]),
        ));
        out(`${letters.length} dead letter(s); replay one with: npm run dead-letters -- replay <id>`);
      }
      return 0;
    }
    const replayed = await replayDeadLetters(bus, args);
    if (json) out(JSON.stringify(replayed, null, 2));
    for (const r of json ? [] : replayed) {
      out(`replayed ${r.id} to ${r.topic}/${r.partition}@${r.offset} (key ${r.key ?? 'none'}) for ${r.consumer} only`);
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  } finally {
    await bus.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  process.exitCode = await main(process.argv.slice(2)).catch((error: Error) => {
    console.error(`dead-letters: ${error.message}`);
    return 1;
  });
}
