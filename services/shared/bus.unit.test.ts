import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Partitioners, type Kafka, type RetryOptions } from 'kafkajs';
import { describe, expect, it, vi } from 'vitest';
import { createKafka, partitionOfKey } from './bus.ts';

describe('the partition of a key', () => {
  it('is the one kafkajs’s default partitioner picks, for every partition count', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const keys = [
      '', 'a', 'ab', 'abc', 'abcd', 'city', 'P-1', 'ünïcödé-€', 'a\u0000b',
      ...Array.from({ length: 300 }, (_, i) => (i % 2 ? randomUUID() : randomBytes(1 + (i % 23)).toString('base64'))),
    ];
    for (const partitions of [1, 3, 6, 7, 64]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
        partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0,
      }));
      for (const key of keys) {
        expect(partitionOfKey(key, partitions), `${JSON.stringify(key)} over ${partitions}`)
          .toBe(kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } }));
      }
    }
  });

  it('takes milliseconds on a key as large as a message', () => {
    const started = Date.now();
    expect(partitionOfKey('p'.repeat(600_000), 6)).toBeGreaterThanOrEqual(0);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('kafkajs log lines', () => {
  it('leaves out the error answers kafkajs retries itself, and keeps every other error', () => {
    const printed: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: string) => void printed.push(line));
    try {
      const logger = createKafka('log-test', ['127.0.0.1:1']).logger();
      logger.error('Response Metadata(key: 3, version: 6)', { error: 'This server is not the leader for that topic-partition', correlationId: 1 });
      logger.error('Response FindCoordinator(key: 10, version: 2)', { error: "The coordinator is loading and hence can't process requests for this group" });
      logger.error('Response InitProducerId(key: 22, version: 1)', { error: 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing' });
      logger.error('Failed to send messages: The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing', { retryCount: 0 });
      logger.error('Response Produce(key: 0, version: 7)', { error: 'The producer attempted to use a producer id which is not currently assigned to its transactional id' });
      logger.error('Connection error: connect ECONNREFUSED 127.0.0.1:1', {});
    } finally {
      spy.mockRestore();
    }
    expect(printed).toEqual([
      expect.stringMatching(/^error log-test kafkajs: Response Produce.*not currently assigned/),
      expect.stringMatching(/^error log-test kafkajs: Connection error: connect ECONNREFUSED/),
    ]);
  });
});

describe('kafkajs retries', () => {
  type Retrier = <T>(attempt: (bail: (error: Error) => void, retryCount: number, retryTime: number) => Promise<T>) => Promise<T>;
  /**
   * kafkajs's retrier, as every client, producer, consumer and coordinator lookup of a Kafka instance runs it, with
   * the defaults of a running system: kafkajs takes others (a 1 s cap among them) when NODE_ENV is `test`, as here.
   */
  const createRetry = (() => {
    const require = createRequire(import.meta.url);
    const path = require.resolve('kafkajs/src/retry/index.js');
    const cached = require.cache[path];
    const mode = process.env.NODE_ENV;
    delete require.cache[path];
    delete process.env.NODE_ENV;
    try {
      return require(path) as (options: RetryOptions) => Retrier;
    } finally {
      process.env.NODE_ENV = mode;
      if (cached) require.cache[path] = cached;
    }
  })();
  const retryOf = (kafka: Kafka) => {
    const key = Object.getOwnPropertySymbols(kafka).find((symbol) => symbol.description === 'private:Kafka:clusterRetry')!;
    return (kafka as unknown as Record<symbol, RetryOptions>)[key];
  };

  it('tries a broker that does not answer again at least once a second for about 20 s, not after pauses doubling to 30 s', async () => {
    vi.useFakeTimers();
    try {
      const retry = createRetry(retryOf(createKafka('retry-test', ['127.0.0.1:1'])));
      const tries: number[] = [];
      const failed = retry(async () => {
        tries.push(Date.now());
        throw Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:1'), { name: 'KafkaJSConnectionError', retriable: true });
      }).catch((error: Error) => error);
      await vi.advanceTimersByTimeAsync(120_000);
      expect(await failed).toMatchObject({ name: 'KafkaJSNumberOfRetriesExceeded' });
      const pauses = tries.slice(1).map((at, i) => at - tries[i]);
      // A broker failover (the killed leader fenced, new leaders and coordinators elected) takes about 10 s: a client
      // that met the dead broker must be there within a second of its end, and still trying. Unpatched: pauses of
      // 0.1, 0.2, … 12.8 s (25 s in all), and a consumer restarted only after its last pause.
      expect(Math.max(...pauses)).toBeLessThanOrEqual(1_000);
      expect(tries.at(-1)! - tries[0]).toBeGreaterThanOrEqual(15_000);
      expect(tries.at(-1)! - tries[0]).toBeLessThan(30_000); // within CALL_TIMEOUT_MS, which bounds a call anyway
    } finally {
      vi.useRealTimers();
    }
  });
});
