/**
 * Internal to the service runtime (service.ts): what a reader holds of each of its tasks (partition number p of its
 * inputs, its "slot"; one slot for a single aggregate) and the rules over it, with no Kafka, so they are unit-tested
 * on their own. Each rule here was added for a failure a chaos or integration test found (see git log).
 */
import type { ServiceMemory } from './batch.ts';
import type { TaskProducer } from './bus.ts';
import { SystemError } from './errors.ts';
import type { Logger } from './log.ts';

/** What a reader holds of one task. */
export interface PartitionTask {
  /** Each service's state and handled inputs of the partition, by service name, once restored. */
  memories: Map<string, ServiceMemory<unknown>>;
  /** Each service's restore of the partition under way, by service name. */
  restoring: Map<string, Promise<void>>;
  /**
   * The task's transactional producer, connected (and so fencing the task's previous producers) as soon as the group
   * assigns the task, before its state is restored.
   */
  producer?: Promise<TaskProducer>;
  /**
   * The topic partitions (`topic:partition`) whose last transaction has no known outcome (its producer broken: a
   * commit whose answer never came, or any failed transaction). Their next batch first learns the outcome, final once
   * a new producer of the task is connected: the group's committed offset says what landed. Its outputs need not be
   * state the services restore, so the restored memory alone could not tell.
   */
  uncertain: Set<string>;
}

/** The tasks of a reader's member: each is looked up by slot when used, never held across a wait (a join drops it). */
export class ReaderTasks {
  /** The slots assigned to this member at its last join. */
  assigned = new Set<number>();
  /** Counts joins: a restore begun before the last one holds state this member may no longer own. */
  joins = 0;
  /** This member's id in its group at its last join. */
  private memberId: string | undefined;
  private readonly bySlot = new Map<number, PartitionTask>();

  constructor(private readonly connect: (slot: number) => Promise<TaskProducer>, private readonly log: Logger) {}

  at(slot: number): PartitionTask {
    let task = this.bySlot.get(slot);
    if (!task) this.bySlot.set(slot, (task = { memories: new Map(), restoring: new Map(), uncertain: new Set() }));
    return task;
  }

  /** The slots some service holds the state of: the partition assigner keeps them here if it can. */
  holding(): number[] {
    return [...this.bySlot].filter(([, task]) => task.memories.size).map(([slot]) => slot);
  }

  /**
   * A join of the group gave this member `assigned`; answers the slots it no longer holds anything of. Joined as a new
   * member (expelled meanwhile, a zombie woken, or a replaced consumer), the tasks it held may have been another's
   * since, so none of its states or producers is trusted: each is dropped, to be restored and renewed.
   */
  join(memberId: string, assigned: Set<number>): { lost: number[]; renewed: boolean } {
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
    return { lost, renewed };
  }

  /**
   * Task `slot`'s producer, connected if need be. A broken one (fenced, or left by a failed transaction) is replaced,
   * but only after `confirm` (the group's heartbeat, or the join that just gave this member the task) shows this
   * member belongs to the generation that gave it the task: a new producer fences every other, and a zombie must not
   * fence the task's new owner.
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
   * Resolves once service `service` holds the state of `slot`. The first need after a join restores every assigned
   * slot the service does not hold yet, in one pass (`restore`); needs of any of them meanwhile wait for that pass.
   */
  restored(service: string, slot: number, restore: (slots: number[]) => Promise<void>): Promise<void> {
    if (this.at(slot).memories.has(service)) return Promise.resolve();
    const gained = [...this.assigned].filter((s) => !this.at(s).memories.has(service) && !this.at(s).restoring.has(service));
    if (gained.length) {
      const restoring = restore(gained).finally(() => {
        for (const s of gained) if (this.at(s).restoring.get(service) === restoring) this.at(s).restoring.delete(service);
      });
      for (const s of gained) this.at(s).restoring.set(service, restoring);
    }
    return this.at(slot).restoring.get(service) ?? Promise.resolve();
  }

  /** Keeps the states a restore begun at join `join` brought, of the slots still assigned, unless the group joined since. */
  keep(service: string, join: number, restored: Map<number, ServiceMemory<unknown>>): void {
    if (join !== this.joins) return;
    for (const [slot, memory] of restored) if (this.assigned.has(slot)) this.at(slot).memories.set(service, memory);
  }

  /**
   * A transaction of `slot` failed: the states it was decided on are gone with it, to be restored from the log. If it
   * left its producer broken, the outcome of `topicPartition`'s transaction is not known either.
   */
  failed(slot: number, services: readonly string[], topicPartition: string, broken: boolean): void {
    for (const service of services) this.at(slot).memories.delete(service);
    if (broken) this.at(slot).uncertain.add(topicPartition);
  }

  /** Drops everything held of `slot`, and closes its producer. */
  async drop(slot: number): Promise<void> {
    const producer = this.bySlot.get(slot)?.producer;
    this.bySlot.delete(slot);
    await producer?.then((p) => p.close(), () => {});
  }

  async close(): Promise<void> {
    await Promise.all([...this.bySlot.keys()].map((slot) => this.drop(slot)));
  }
}

/**
 * The repartition hop's rule: task `slot` decides an input in its own `memory` when the input's state key belongs to
 * the task (always, for a single aggregate, whose keys all belong to slot 0); else in none, and the input is forwarded
 * to the repartition topic. Even when this instance holds that key's partition too: a transaction holds only its own
 * task's state.
 */
export function homeOf<S>(slot: number, memory: ServiceMemory<S>, slotOfKey: (stateKey: string) => number) {
  return (stateKey: string): ServiceMemory<S> | undefined => (slotOfKey(stateKey) === slot ? memory : undefined);
}

/**
 * After a transaction without a known outcome: which of `inputs` are still to decide. Those the group's committed
 * offset has passed were committed, outputs and all, by that transaction, whatever batch they come back in (a retry
 * of the same one, or a longer one fetched after a rejoin).
 */
export function notCommitted<I extends { message: { offset: string } }>(inputs: I[], committed: bigint | undefined): I[] {
  return committed === undefined ? inputs : inputs.filter(({ message }) => BigInt(message.offset) >= committed);
}
