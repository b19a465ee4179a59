/** What a reader's member holds of each task (slot), and the rules over it: no Kafka here, so they are unit-tested. */
import type { ServiceMemory } from './batch.ts';
import type { TaskProducer } from './bus.ts';
import { SystemError } from './errors.ts';
import { reasonOf } from './isolation.ts';
import type { Logger } from './log.ts';

/** What a member holds of one task. */
export interface PartitionTask {
  /** Each service's state and handled inputs of the partition, by service name, once restored. */
  memories: Map<string, ServiceMemory<unknown>>;
  /** Each service's restore of the partition under way, by service name. */
  restoring: Map<string, Promise<void>>;
  /** Its transactional producer, connected (fencing the task's previous ones) when the group assigns the task. */
  producer?: Promise<TaskProducer>;
  /**
   * `topic:partition`s whose last transaction has no known outcome: their next batch learns it from the committed
   * offset (`notCommitted`), as outputs need not be state the restored memory would show.
   */
  uncertain: Set<string>;
}

/** A group join's own confirmation that the tasks it assigns are this member's (see `producer`). */
const JOINED = async () => {};

/** The tasks of a member, looked up by slot whenever used, never kept across a wait: a join may drop them. */
export class ReaderTasks {
  /** The slots assigned to this member at its last join. */
  assigned: ReadonlySet<number> = new Set();
  /** Counts joins: a restore begun before the last one holds state this member may no longer own. */
  private joins = 0;
  private memberId: string | undefined;
  private readonly bySlot = new Map<number, PartitionTask>();

  constructor(private readonly connect: (slot: number) => Promise<TaskProducer>, private readonly log: Logger) {}

  at(slot: number): PartitionTask {
    let task = this.bySlot.get(slot);
    if (!task) this.bySlot.set(slot, (task = { memories: new Map(), restoring: new Map(), uncertain: new Set() }));
    return task;
  }

  /** The slots some service holds the state of: the partition assigner leaves them here if it can. */
  holding(): number[] {
    return [...this.bySlot].filter(([, task]) => task.memories.size).map(([slot]) => slot);
  }

  /**
   * A join gave this member `assigned`: lost tasks are dropped, all of them if it joined as a new member (they may have
   * been another's since). Each assigned task is fenced at once, so a zombie stops committing.
   */
  join(memberId: string, assigned: ReadonlySet<number>): { lost: number[]; renewed: boolean } {
    this.joins += 1;
    this.assigned = assigned;
    const renewed = this.memberId !== undefined && memberId !== this.memberId;
    this.memberId = memberId;
    const lost: number[] = [];
    for (const [slot, task] of this.bySlot) {
      if (!renewed && assigned.has(slot)) continue;
      if (task.producer || task.memories.size || task.restoring.size) lost.push(slot);
      void this.drop(slot);
    }
    for (const slot of assigned) {
      this.producer(slot, JOINED).catch((error) => this.log.warn(`could not start the producer of task ${slot} yet: ${reasonOf(error)}`));
    }
    return { lost, renewed };
  }

  /**
   * Task `slot`'s producer, connected if need be. A broken one is replaced only after `confirm` (a heartbeat, or the
   * join) shows the task is still this member's: a new producer fences every other, and a zombie must not.
   */
  async producer(slot: number, confirm?: () => Promise<void>): Promise<TaskProducer> {
    let producer = this.bySlot.get(slot)?.producer;
    const current = await producer?.catch(() => undefined);
    if (current && !current.broken) return current;
    if (current?.broken) {
      if (!confirm) throw new SystemError('UNAVAILABLE', `the producer of task ${slot} is being replaced`, true);
      await confirm();
      if (this.bySlot.get(slot)?.producer !== producer) return this.producer(slot, confirm); // replaced meanwhile
      this.log.warn(`replacing the producer of task ${slot}, which a transaction left in an unknown state`);
      void current.close();
      this.at(slot).producer = undefined;
    }
    const task = this.at(slot);
    if (!task.producer) {
      producer = task.producer = this.connect(slot);
      producer.catch(() => { if (task.producer === producer) task.producer = undefined; }); // the next batch tries again
    }
    return task.producer;
  }

  /**
   * Resolves once `service` holds the state of `slot`; the first need after a join restores every missing assigned
   * slot in one pass. `keep` keeps what was read only if no join came since.
   */
  restored(service: string, slot: number, restore: (slots: number[], keep: (read: Map<number, ServiceMemory<unknown>>) => void) => Promise<void>): Promise<void> {
    if (this.at(slot).memories.has(service)) return Promise.resolve();
    const gained = [...this.assigned].filter((s) => !this.at(s).memories.has(service) && !this.at(s).restoring.has(service));
    if (gained.length) {
      const join = this.joins;
      const keep = (read: Map<number, ServiceMemory<unknown>>) => {
        if (join === this.joins) for (const [s, memory] of read) if (this.assigned.has(s)) this.at(s).memories.set(service, memory);
      };
      const restoring = restore(gained, keep).finally(() => {
        for (const s of gained) if (this.at(s).restoring.get(service) === restoring) this.at(s).restoring.delete(service);
      });
      for (const s of gained) this.at(s).restoring.set(service, restoring);
    }
    return this.at(slot).restoring.get(service) ?? Promise.resolve();
  }

  /** A transaction failed: the states it was decided on go with it; its producer broken, its outcome is unknown. */
  failed(slot: number, services: readonly string[], topicPartition: string, broken: boolean): void {
    for (const service of services) this.at(slot).memories.delete(service);
    if (broken) this.at(slot).uncertain.add(topicPartition);
  }

  /** Drops all the member holds of `slot`, and closes its producer. */
  async drop(slot: number): Promise<void> {
    const producer = this.bySlot.get(slot)?.producer;
    this.bySlot.delete(slot);
    await producer?.then((p) => p.close(), () => {});
  }

  close = () => Promise.all([...this.bySlot.keys()].map((slot) => this.drop(slot)));
}

/** Task `slot` decides only its own keys; others are forwarded, even if held here: a transaction holds one task's state. */
export function homeOf<S>(slot: number, memory: ServiceMemory<S>, slotOfKey: (stateKey: string) => number) {
  return (stateKey: string): ServiceMemory<S> | undefined => (slotOfKey(stateKey) === slot ? memory : undefined);
}

/** After a transaction without a known outcome: inputs the committed offset passed were committed, outputs and all. */
export function notCommitted<I extends { message: { offset: string } }>(inputs: I[], committed: bigint | undefined): I[] {
  return committed === undefined ? inputs : inputs.filter(({ message }) => BigInt(message.offset) >= committed);
}

/** Where the group reads on from once `some` inputs are decided: past the last record all of whose inputs are in. */
export function nextOffsetAfter<I extends { message: { offset: string } }>(inputs: readonly I[], some: readonly I[], end: bigint): bigint {
  const last = inputs.indexOf(some.at(-1)!);
  if (last === inputs.length - 1) return end;
  const offset = BigInt(inputs[last].message.offset);
  return BigInt(inputs[last + 1].message.offset) === offset ? offset : offset + 1n;
}
