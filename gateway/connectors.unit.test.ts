/**
 * What readiness says about a connector, from statuses shaped as Kafka Connect's REST API answers them (the FAILED
 * task's trace abridged from one a real worker gave for a RecordTooLargeException; test/catalog-capture.e2e.test.ts
 * checks against a real worker), and that nothing is checked unless the gateway is told of a worker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectUrlFromEnv, declaredConnectors, problems, summary, type ConnectorStatus } from './connectors.ts';
import { DOMAINS } from '../services/domains.ts';

const url = 'http://127.0.0.1:8083';
const running = (tasks: string[] = ['RUNNING']): ConnectorStatus => ({
  name: 'movies-catalog',
  state: 'RUNNING',
  workerId: '127.0.0.1:8083',
  tasks: tasks.map((state, id) => ({ id, state, workerId: '127.0.0.1:8083' })),
});
const TRACE = [
  'org.apache.kafka.connect.errors.ConnectException: Unrecoverable exception from producer send callback',
  '\tat org.apache.kafka.connect.runtime.WorkerSourceTask.maybeThrowProducerSendException(WorkerSourceTask.java:343)',
  '\tat org.apache.kafka.connect.runtime.WorkerSourceTask.prepareToPollTask(WorkerSourceTask.java:122)',
  'Caused by: org.apache.kafka.common.errors.RecordTooLargeException: The message is 919 bytes when serialized which is larger than 200, which is the value of the max.request.size configuration.',
].join('\n');

describe('connector problems', () => {
  it('none when the connector and every task are RUNNING', () => {
    expect(problems(running(), url)).toEqual([]);
  });

  it('a FAILED task: its first line and root cause, and how to restart it', () => {
    const status = running(['FAILED']);
    status.tasks[0].trace = TRACE;
    expect(problems(status, url)).toEqual([
      'connector movies-catalog task 0 FAILED on 127.0.0.1:8083: org.apache.kafka.connect.errors.ConnectException: Unrecoverable exception ' +
        'from producer send callback (Caused by: org.apache.kafka.common.errors.RecordTooLargeException: The message is 919 bytes when ' +
        'serialized which is larger than 200, which is the value of the max.request.size configuration.); fix the cause, then restart it: ' +
        "curl -X POST 'http://127.0.0.1:8083/connectors/movies-catalog/restart?includeTasks=true&onlyFailed=true'",
    ]);
  });

  it('a FAILED connector, a paused one, one starting, one without tasks, one not registered', () => {
    expect(problems({ ...running(), state: 'FAILED', trace: 'java.lang.IllegalStateException: no slot' }, url)).toEqual([
      expect.stringMatching(/^connector movies-catalog FAILED on 127\.0\.0\.1:8083: java\.lang\.IllegalStateException: no slot; fix the cause, then restart it/),
    ]);
    expect(problems({ ...running(), state: 'PAUSED' }, url)).toEqual([
      `connector movies-catalog is PAUSED, not RUNNING: its changes wait in the database; resume it: curl -X PUT ${url}/connectors/movies-catalog/resume`,
    ]);
    expect(problems(running(['UNASSIGNED']), url)).toEqual([expect.stringMatching(/^connector movies-catalog task 0 is UNASSIGNED, not RUNNING: starting or rebalancing/)]);
    expect(problems(running([]), url)).toEqual([expect.stringMatching(/RUNNING with no task/)]);
    expect(problems({ name: 'movies-catalog', state: 'NOT_REGISTERED', tasks: [] }, url)).toEqual([expect.stringMatching(/is not registered on Kafka Connect at .*register it/)]);
  });

  it('summarizes a trace without a cause to its first line, and a missing one', () => {
    expect(summary('java.lang.RuntimeException: boom\n\tat x.y(Z.java:1)')).toBe('java.lang.RuntimeException: boom');
    expect(summary(undefined)).toMatch(/no trace given/);
  });
});

describe('which connectors, on which worker', () => {
  const saved = process.env.CONNECT_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.CONNECT_URL;
    else process.env.CONNECT_URL = saved;
  });

  it('the connectors the contracts declare, under the topic prefix', () => {
    expect(declaredConnectors(DOMAINS, '')).toEqual(['movies-catalog']);
    expect(declaredConnectors(DOMAINS, 'test-1.')).toEqual(['test-1.movies-catalog']);
  });

  it('a worker only when CONNECT_URL names one: none is checked otherwise', () => {
    delete process.env.CONNECT_URL;
    expect(connectUrlFromEnv()).toBeUndefined();
    process.env.CONNECT_URL = '';
    expect(connectUrlFromEnv()).toBeUndefined();
    process.env.CONNECT_URL = 'http://connect:8083/';
    expect(connectUrlFromEnv()).toBe('http://connect:8083');
  });
});
