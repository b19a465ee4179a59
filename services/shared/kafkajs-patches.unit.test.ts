import { afterEach, expect, it, vi } from 'vitest';
import { createRequire } from 'node:module';
import { appendingOnce, hideAborted, KafkaBroker, KafkaRequestQueue, type ProduceRequest } from './kafkajs-patches.ts';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const queues: InstanceType<typeof KafkaRequestQueue>[] = [];
afterEach(() => {
  for (const queue of queues.splice(0)) (queue as unknown as { destroy(): void }).destroy();
});

/** A connection's request queue, and what it has put on the wire so far (correlation ids). */
function connection(maxInFlightRequests: number) {
  const queue = new KafkaRequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'b:9092', logger: quiet });
  queues.push(queue);
  const sent: number[] = [];
  const q = queue as unknown as {
    push(request: unknown): void;
    fulfillRequest(answer: { correlationId: number; payload: Buffer; size: number }): void;
    maybeThrottle(ms: number): void;
  };
  const request = (correlationId: number) => new Promise((resolve, reject) => q.push({
    entry: { correlationId, apiKey: 1, apiName: 'Fetch', apiVersion: 11, resolve, reject },
    expectResponse: true,
    sendRequest: () => sent.push(correlationId),
  }));
  const answer = (correlationId: number) => q.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 });
  return { queue, q, sent, request, answer };
}

it('leaves no timer running once every request is answered and nothing waits (kafkajs 2.2.4 kept a 1 ms loop)', async () => {
  const { queue, request, answer } = connection(1);
  const checks = vi.spyOn(queue, 'checkPendingRequests');
  const answered = request(1);
  answer(1);
  await answered;
  await new Promise((r) => setTimeout(r, 50));
  // One check, the one the answer makes itself; the unfixed queue checked again every millisecond.
  expect(checks.mock.calls.length).toBe(1);
  expect(queue.throttleCheckTimeoutId).toBeNull();
});

it('sends a request that waited for an in-flight slot as soon as the slot frees', async () => {
  const { sent, request, answer } = connection(1);
  const first = request(1);
  const second = request(2);
  expect(sent).toEqual([1]);
  answer(1);
  await first;
  expect(sent).toEqual([1, 2]);
  answer(2);
  await second;
});

it('sends a request held by the broker\'s throttling once the throttle ends', async () => {
  const { q, sent, request, answer } = connection(10);
  q.maybeThrottle(40);
  const held = request(1);
  expect(sent).toEqual([]);
  await vi.waitFor(() => expect(sent).toEqual([1]), { timeout: 1_000, interval: 5 });
  answer(1);
  await held;
});

/**
 * kafkajs's own produce path (sendMessages.js) against two leaders: partition 0's answers after 150 ms, partition 1's
 * AddPartitionsToTxn is refused once at once (CONCURRENT_TRANSACTIONS, as while the task's previous transaction ends).
 * Answers what each leader appended, and how the send ended.
 */
async function sendAcrossTwoLeaders(produceOf: (append: (request: ProduceRequest) => Promise<unknown>) => (request: ProduceRequest) => Promise<unknown>) {
  const require = createRequire(import.meta.url);
  const createSendMessages = require('kafkajs/src/producer/sendMessages.js') as (options: object) => (request: object) => Promise<unknown>;
  const createRetry = require('kafkajs/src/retry/index.js') as (options: object) => unknown;
  const Lock = require('kafkajs/src/utils/lock.js') as new (options: { timeout: number }) => { acquire(): Promise<void>; release(): Promise<void> };
  const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode(code: number): Error };
  const topic = 'verdicts';
  const logs: Record<string, { key: string; sequence: number }[]> = { 1: [], 2: [] };
  const broker = (nodeId: number, delayMs: number) => ({
    nodeId,
    produce: produceOf(async ({ topicData }) => {
      await new Promise((r) => setTimeout(r, delayMs));
      const partitions = topicData[0].partitions.map(({ partition, messages, firstSequence = 0 }) => {
        const baseOffset = logs[nodeId].length;
        messages.forEach((m, i) => logs[nodeId].push({ key: (m as { key: string }).key, sequence: firstSequence + i }));
        return { partition, errorCode: 0, baseOffset: String(baseOffset), logAppendTime: '-1', logStartOffset: '0' };
      });
      return { topics: [{ topicName: topic, partitions }] };
    }),
  });
  const brokers: Record<string, ReturnType<typeof broker>> = { 1: broker(1, 150), 2: broker(2, 0) };
  const sequences = new Map<number, number>();
  const locks = new Map<number, InstanceType<typeof Lock>>();
  let refused = false;
  const sendMessages = createSendMessages({
    logger: quiet,
    partitioner: ({ message }: { message: { partition: number } }) => message.partition,
    retrier: createRetry({ initialRetryTime: 20, maxRetryTime: 50, retries: 3 }),
    cluster: {
      refreshMetadataIfNecessary: async () => {},
      refreshMetadata: async () => {},
      addMultipleTargetTopics: async () => {},
      isConnected: () => true,
      findTopicPartitionMetadata: () => [{ partitionId: 0, leader: 1 }, { partitionId: 1, leader: 2 }],
      findLeaderForPartitions: (_: string, partitions: string[]) => Object.fromEntries(
        [1, 2].map((leader) => [leader, partitions.filter((p) => Number(p) === leader - 1).map(Number)]).filter(([, p]) => (p as number[]).length),
      ),
      findBroker: async ({ nodeId }: { nodeId: string }) => brokers[nodeId],
    },
    eosManager: {
      isTransactional: () => true,
      getTransactionalId: () => 'group.task-0',
      getProducerId: () => 1000,
      getProducerEpoch: () => 0,
      async addPartitionsToTransaction(topicData: ProduceRequest['topicData']) {
        if (!refused && topicData.some(({ partitions }) => partitions.some((p) => p.partition === 1))) {
          refused = true;
          throw createErrorFromCode(51); // CONCURRENT_TRANSACTIONS, retriable
        }
      },
      getSequence: (_: string, partition: number) => sequences.get(partition) ?? 0,
      updateSequence: (_: string, partition: number, by: number) => sequences.set(partition, (sequences.get(partition) ?? 0) + by),
      async acquireBrokerLock({ nodeId }: { nodeId: number }) {
        if (!locks.has(nodeId)) locks.set(nodeId, new Lock({ timeout: 0xffff }));
        await locks.get(nodeId)!.acquire();
      },
      releaseBrokerLock: ({ nodeId }: { nodeId: number }) => locks.get(nodeId)!.release(),
    },
  });
  const sent = await sendMessages({
    acks: -1,
    topicMessages: [{ topic, messages: [{ key: 'verdict-a', value: 'a', partition: 0 }, { key: 'verdict-b', value: 'b', partition: 1 }] }],
  }).then(() => 'committed', (error: Error) => error.message);
  return { appended: { 0: logs[1], 1: logs[2] }, sent };
}

it('kafkajs 2.2.4 sends a slow leader\'s records again when another leader failed fast: the broker appends them twice', async () => {
  const { appended, sent } = await sendAcrossTwoLeaders((append) => append);
  expect(sent).toBe('committed');
  // The same record under two sequence numbers: the broker cannot tell it is a copy.
  expect(appended[0]).toEqual([{ key: 'verdict-a', sequence: 0 }, { key: 'verdict-a', sequence: 1 }]);
});

it('refuses to send a transaction\'s records again once the broker appended them, so the transaction fails instead of committing two copies', async () => {
  expect(KafkaBroker.prototype.produce.name).toBe('produceOnce'); // every client of the process has it
  const { appended, sent } = await sendAcrossTwoLeaders((append) => appendingOnce(append));
  expect(appended[0]).toEqual([{ key: 'verdict-a', sequence: 0 }]);
  expect(sent).toMatch(/refused, so that the transaction fails/);
});

/**
 * inventory.repartition/3 of a 3-broker run, as fetched read_committed from offset `from`: transactions of producers
 * 13 (from offset 7) and 2022 (from 8) aborted by fences in the order 2022, 13 (the transaction index's order, which the
 * broker answers in), then 13's committed copy of the record at 7.
 */
function fetchedAfterTwoAborts(from: number) {
  const txn = (producerId: string) => ({ producerId, inTransaction: true });
  const marker = (offset: number, producerId: string) => ({ offset: String(offset), key: Buffer.from([0, 0, 0, 0]), value: null, isControlRecord: true, batchContext: txn(producerId) });
  const record = (offset: number, producerId: string, key: string) => ({ offset: String(offset), key: Buffer.from(key), value: Buffer.from(key), isControlRecord: false, batchContext: txn(producerId) });
  return {
    partition: 3,
    highWatermark: '14',
    abortedTransactions: [{ producerId: '2022', firstOffset: '8' }, { producerId: '13', firstOffset: '7' }],
    messages: [
      record(7, '13', 'forward-b4343dba (aborted)'), record(8, '2022', 'forward-ca088dc2 (aborted)'), marker(9, '2022'), marker(10, '13'),
      record(11, '2024', 'forward-e0ed3c12'), record(12, '13', 'forward-b4343dba'), { ...marker(13, '13'), key: Buffer.from([0, 0, 0, 1]) },
    ].filter(({ offset }) => Number(offset) >= from),
  };
}

const Batch = createRequire(import.meta.url)('kafkajs/src/consumer/batch.js') as new (topic: string, fetchedOffset: string, partition: object) => {
  messages: { key: Buffer }[];
  lastOffset(): string;
};
const keys = (batch: InstanceType<typeof Batch>) => batch.messages.map(({ key }) => key.toString());

it('kafkajs 2.2.4 hands over a record of a transaction aborted after another that began later', () => {
  expect(keys(new Batch('inventory.repartition', '7', fetchedAfterTwoAborts(7)))).toContain('forward-b4343dba (aborted)');
});

it('hides every record of an aborted transaction, in whatever order the broker lists them and wherever the fetch starts', () => {
  // Listed sorted and fetched from 8, kafkajs took 13's transaction for the one begun at 8, and handed 2022's over.
  for (const [from, sorted] of [[7, false], [8, false], [7, true], [8, true]] as const) {
    const fetched = fetchedAfterTwoAborts(from);
    if (sorted) fetched.abortedTransactions.reverse();
    hideAborted(fetched);
    const batch = new Batch('inventory.repartition', String(from), fetched);
    expect(keys(batch)).toEqual(['forward-e0ed3c12', 'forward-b4343dba']);
    expect(batch.lastOffset()).toBe('13'); // the group still moves past the hidden records
  }
  expect(KafkaBroker.prototype.fetch.name).toBe('fetchCommitted'); // every consumer of the process has it
});
