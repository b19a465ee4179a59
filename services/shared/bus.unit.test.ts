import { randomBytes, randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
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
