/**
 * Internal to the service runtime (service.ts): more work in each transaction of a task, without waiting for it.
 * Writes handed to a task while none of its transactions runs go out at once, in the next tick; those handed to it
 * while one runs are merged into the next one (a group commit). So one client's input is committed as soon as it
 * is decided, and under load a transaction carries whatever its task decided meanwhile: the inputs of every topic
 * and every service of the task, from one fetch or several. Kafka Streams gets the same from its commit interval,
 * at the price of waiting out the interval.
 *
 * A failed transaction fails every write in it, and every write queued behind it: those were decided on the state
 * it held, which is gone with it. Each write's `failed` is called at once, before anything else can decide on that
 * state again.
 */
import { isFenced, type DeadLetterSource, type Forwarded, type TaskProducer } from './bus.ts';
import { SystemError } from './errors.ts';
import { reasonOf } from './isolation.ts';
import type { CommandReply, LogPosition, Outgoing } from './messages.ts';

/** What a task writes for a range of input it consumed: committed with the input's offset, or not at all. */
export interface TaskWrite {
  /** Events and forwards, in order. */
  messages: readonly (Outgoing | Forwarded)[];
  /** Replies and dead letters, once `messages` have their positions. */
  after?(positions: LogPosition[]): { replies?: CommandReply[]; deadLetters?: { source: DeadLetterSource; reason: string }[] };
  /** Consumer group `group` (without the prefix) reads physical topic `topic`'s `partition` on from offset `next`. */
  consumed: { group: string; topic: string; partition: number; next: bigint };
  /** Committed in a transaction of its own: a write retried after a failure must not fail others with it again. */
  alone?: boolean;
  /** Called synchronously when the write is known not committed (or not known committed), before its promise rejects. */
  failed?(error: unknown): void;
}

interface Queued {
  write: TaskWrite;
  resolve(positions: LogPosition[]): void;
  reject(error: unknown): void;
}

const queues = new WeakMap<TaskProducer, Queued[]>();
const busy = new WeakSet<TaskProducer>();
/** Per task, the furthest offset handed to it for each `group\0topic\0partition`. */
const furthest = new WeakMap<TaskProducer, Map<string, bigint>>();

/**
 * Commits `write` in a transaction of `task`, merged with what the task is handed meanwhile; answers where its
 * messages landed. A write of offsets only that is behind what the task was already handed for its partition is
 * dropped: committed after it, it would move the group back, and the inputs in between would be decided again
 * (a skip past transaction markers, fired by kafkajs after a batch, may reach the task after the next batch's write).
 */
export function commitMerged(task: TaskProducer, write: TaskWrite): Promise<LogPosition[]> {
  const positions = furthest.get(task) ?? new Map<string, bigint>();
  furthest.set(task, positions);
  const { group, topic, partition, next } = write.consumed;
  const at = `${group}\0${topic}\0${partition}`;
  const before = positions.get(at);
  if (before !== undefined && before >= next && !write.messages.length && !write.after) return Promise.resolve([]);
  if (before === undefined || next > before) positions.set(at, next);
  let queue = queues.get(task);
  if (!queue) queues.set(task, (queue = []));
  const done = new Promise<LogPosition[]>((resolve, reject) => queue.push({ write, resolve, reject }));
  kick(task);
  return done;
}

function kick(task: TaskProducer): void {
  if (busy.has(task) || !queues.get(task)?.length) return;
  busy.add(task);
  // The next tick, not this one: the other batches of the same fetch decide meanwhile and join.
  setImmediate(() => void flush(task));
}

async function flush(task: TaskProducer): Promise<void> {
  const queue = queues.get(task)!;
  const firstAlone = queue.findIndex(({ write }) => write.alone);
  const taken = queue.splice(0, firstAlone === 0 ? 1 : firstAlone === -1 ? queue.length : firstAlone);
  try {
    const positions = await task.transaction((txn) => writeAll(txn, taken.map(({ write }) => write)));
    taken.forEach(({ resolve }, i) => resolve(positions[i]));
  } catch (error) {
    const behind = queue.splice(0);
    const theirs = isFenced(error)
      ? error
      : new SystemError('UNAVAILABLE', `not committed: a transaction of the same task before it failed (${reasonOf(error)}); it is decided again`, true);
    // Not committed (or not known to be): their offsets may be handed again, by their retries.
    const positions = furthest.get(task)!;
    for (const { write: { consumed } } of [...taken, ...behind]) positions.delete(`${consumed.group}\0${consumed.topic}\0${consumed.partition}`);
    for (const { write } of taken) write.failed?.(error);
    for (const { write } of behind) write.failed?.(theirs);
    taken.forEach(({ reject }) => reject(error));
    behind.forEach(({ reject }) => reject(theirs));
  } finally {
    busy.delete(task);
    kick(task);
  }
}

async function writeAll(txn: Parameters<Parameters<TaskProducer['transaction']>[0]>[0], writes: TaskWrite[]): Promise<LogPosition[][]> {
  const positions = await txn.publish(writes.flatMap((write) => write.messages));
  let at = 0;
  const each = writes.map((write) => positions.slice(at, (at += write.messages.length)));
  const after = writes.map((write, i) => write.after?.(each[i]) ?? {});
  await txn.publishReplies(after.flatMap(({ replies }) => replies ?? []));
  for (const { source, reason } of after.flatMap(({ deadLetters }) => deadLetters ?? [])) await txn.publishDeadLetter(source, reason);
  // Two writes of one partition in a transaction (a batch and a skip past markers): the later offset holds.
  const next = new Map<string, TaskWrite['consumed']>();
  for (const { consumed } of writes) {
    const key = `${consumed.group}\0${consumed.topic}\0${consumed.partition}`;
    if ((next.get(key)?.next ?? -1n) < consumed.next) next.set(key, consumed);
  }
  for (const { group, topic, partition, next: offset } of next.values()) txn.consumed(group, topic, partition, offset.toString());
  return each;
}
