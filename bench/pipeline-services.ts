/**
 * The services' side of the write path's Kafka floor (./pipeline.ts starts it as its own process, as the system's
 * services run beside the gateway): an order's messages as the orders flow sends them, through the same bus (one
 * coalescing idempotent producer, acks=all) and consumer runtime, and nothing else: no decisions, no schemas, no
 * database. `tsx bench/pipeline-services.ts <brokers> <prefix>`; prints READY once every group has joined, and
 * answers a `requests` line on stdin with its Kafka requests so far, as JSON.
 *
 * - orders reads commands: each becomes a created event; it reads verdicts: an order's third becomes its outcome.
 * - three checks read events: each created event gets one verdict from each.
 * - a projector reads events and verdicts, as the orders projector does, and does nothing with them.
 */
import { createInterface } from 'node:readline';
import type { KafkaMessage } from 'kafkajs';
import { createBus, type Forwarded } from '../services/shared/bus.ts';
import { runConsumer } from '../services/shared/consumer.ts';
import { createLogger } from '../services/shared/log.ts';
import { CHECKS, message, PIPELINE_TOPICS, typeOf } from './pipeline.ts';

const [brokers, prefix] = process.argv.slice(2);
const log = createLogger('bench-pipeline');
const bus = await createBus({ clientId: 'bench-pipeline-services', brokers: brokers.split(','), prefix });
const publishFor = (messages: readonly KafkaMessage[], next: (m: KafkaMessage) => Forwarded | undefined) => {
  const out = messages.map(next).filter((m) => m !== undefined);
  return out.length ? bus.publish(out) : Promise.resolve([]);
};

const verdicts = new Map<string, number>();
const groups = [
  runConsumer(bus, {
    group: 'orders', topics: [PIPELINE_TOPICS.commands, PIPELINE_TOPICS.verdicts], fromBeginning: true,
    run: () => ({
      eachBatch: async ({ batch }) => {
        const commands = batch.topic === prefix + PIPELINE_TOPICS.commands;
        await publishFor(batch.messages, (m) => {
          const orderId = String(m.key);
          if (commands) return message(PIPELINE_TOPICS.events, orderId, 'created');
          const seen = (verdicts.get(orderId) ?? 0) + 1;
          if (seen < CHECKS.length) return void verdicts.set(orderId, seen);
          verdicts.delete(orderId);
          return message(PIPELINE_TOPICS.events, orderId, 'validated');
        });
      },
    }),
  }, log),
  ...CHECKS.map((check) => runConsumer(bus, {
    group: check, topics: [PIPELINE_TOPICS.events], fromBeginning: true,
    run: () => ({
      eachBatch: async ({ batch }) => {
        await publishFor(batch.messages, (m) => (typeOf(m) === 'created' ? message(PIPELINE_TOPICS.verdicts, String(m.key), check) : undefined));
      },
    }),
  }, log)),
  runConsumer(bus, {
    group: 'projector', topics: [PIPELINE_TOPICS.events, PIPELINE_TOPICS.verdicts], fromBeginning: true,
    run: () => ({ eachBatch: async () => {} }),
  }, log),
];
const running = await Promise.all(groups);
console.log('READY');
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  if (line.trim() === 'requests') console.log(`REQUESTS ${JSON.stringify(bus.requestCounts())}`);
});
commands.on('close', async () => { // the bench closed our stdin: done
  await Promise.all(running.map((consumer) => consumer.stop()));
  await bus.close();
  process.exit(0);
});
