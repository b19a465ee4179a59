/**
 * A consumer group member that stays alive as long as its process. kafkajs restarts a consumer itself after
 * a crash it considers retriable; after any other crash the consumer just stops, and the process would go
 * on looking alive while consuming nothing. Here a crashed consumer is replaced by a fresh one, with backoff.
 */
import type { Consumer, ConsumerRunConfig, PartitionAssigner } from 'kafkajs';
import { joined, type Bus } from './bus.ts';
import { backoffMs } from './isolation.ts';
import type { Logger } from './log.ts';


export interface ConsumerSpec {
  /** The consumer group, without the topic prefix. */
  group: string;
  topics: readonly string[];
  fromBeginning: boolean;
  /** How the group's members share partitions (default: kafkajs's round robin). */
  partitionAssigners?: PartitionAssigner[];
  /** Called with every new consumer before it runs, e.g. to listen to its group events. */
  prepare?(consumer: Consumer): void;
  /** How the member consumes; given the member itself, e.g. to seek. */
  run(member: Consumer): ConsumerRunConfig;
}

export interface RunningConsumer {
  stop(): Promise<void>;
}

/** Starts the consumer and resolves once it has joined its group. */
export async function runConsumer(bus: Bus, spec: ConsumerSpec, log: Logger): Promise<RunningConsumer> {
  let consumer: Consumer | undefined;
  let stopped = false;
  let restarts = 0;

  async function start(): Promise<Consumer> {
    const next = bus.createConsumer(spec.group, { partitionAssigners: spec.partitionAssigners });
    spec.prepare?.(next);
    next.on(next.events.CRASH, ({ payload }) => {
      if (stopped || payload.restart) return; // kafkajs restarts this one itself
      restarts += 1;
      const delay = backoffMs(Math.min(restarts, 8));
      log.error(`consumer ${spec.group} crashed (${payload.error.message}); starting a new one in ${delay} ms (restart ${restarts})`);
      setTimeout(() => void replace(next), delay).unref();
    });
    await next.connect();
    for (const topic of spec.topics) await next.subscribe({ topic: bus.topic(topic), fromBeginning: spec.fromBeginning });
    const ready = joined(next);
    await next.run(spec.run(next));
    await ready;
    return next;
  }

  async function replace(crashed: Consumer) {
    if (stopped || consumer !== crashed) return;
    await crashed.disconnect().catch(() => {});
    try {
      consumer = await start();
      log.info(`consumer ${spec.group} is consuming again`);
    } catch (error) {
      log.error(`consumer ${spec.group} could not restart (${(error as Error).message}); trying again`);
      restarts += 1;
      setTimeout(() => void replace(crashed), backoffMs(Math.min(restarts, 8))).unref();
    }
  }

  consumer = await start();
  return {
    async stop() {
      stopped = true;
      await consumer?.disconnect();
    },
  };
}
