/**
 * A group commit per task: a write goes out in the next tick when no transaction runs, else merges into the next one,
 * so an input commits as soon as it is decided with no commit interval to wait out. A failed transaction fails every
 * write in it and queued behind it (decided on state now gone); `failed` runs at once, before anything decides again.
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
 * Commits `write` in a transaction of `task`, merged with others; answers where its messages landed. An offsets-only
 * write behind what the task was handed is dropped: it would move the group back (a late skip past markers).
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
