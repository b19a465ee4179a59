import { randomBytes, randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionOfKey } from './bus.ts';

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
