/**
 * The testcontainers path cannot run here (no Docker engine), so what can be checked is checked: the choice
 * of path, and that the container modules load with the API the helper calls.
 */
import { describe, expect, it } from 'vitest';
import { chooseSources } from './support/infrastructure.ts';

describe('test infrastructure', () => {
  it('uses given settings first, then testcontainers when Docker answers, then the local scripts', () => {
    expect(chooseSources({}, false)).toEqual({ kafka: 'local', postgres: 'local' });
    expect(chooseSources({}, true)).toEqual({ kafka: 'testcontainers', postgres: 'testcontainers' });
    expect(chooseSources({ KAFKA_BROKERS: 'k:9092' }, true)).toEqual({ kafka: 'environment', postgres: 'testcontainers' });
    expect(chooseSources({ DATABASE_URL: 'postgresql://x' }, false)).toEqual({ kafka: 'local', postgres: 'environment' });
  });

  it('loads the testcontainers modules with the methods the helper uses', async () => {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    expect(typeof KafkaContainer.prototype.withKraft).toBe('function');
    expect(typeof KafkaContainer.prototype.start).toBe('function');
    expect(typeof PostgreSqlContainer.prototype.start).toBe('function');
  });
});
