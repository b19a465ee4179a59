/** CommandGateway.publish: facts written without a reply, answered once Kafka has them, or UNAVAILABLE. */
import { Histogram } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Bus } from '../services/shared/bus.ts';
import { SystemError } from '../services/shared/errors.ts';
import type { Outgoing } from '../services/shared/messages.ts';
import { createCommandGateway } from './commands.ts';
import type { ProjectionWatcher } from '../services/shared/graphql/index.ts';

const fact: Outgoing = { topic: 'facts', envelope: { kind: 'event', eventId: 'e1', correlationId: 'e1', causationId: 'e1', type: 'Seen', schemaVersion: 1, aggregateId: 'a', occurredAt: new Date(0).toISOString(), data: {} } };

function gatewayOn(publish: Bus['publish']) {
  const latency = new Histogram({ name: `test_seconds_${Math.random().toString(36).slice(2)}`, help: 'test', labelNames: ['type', 'outcome'], registers: [] });
  return createCommandGateway({ publish } as Bus, {} as ProjectionWatcher, () => [], latency);
}

async function refusal(work: Promise<unknown>): Promise<SystemError> {
  try {
    await work;
  } catch (error) {
    return error as SystemError;
  }
  throw new Error('it did not refuse');
}

describe('CommandGateway.publish', () => {
  it('answers once the bus has every message, without waiting for a reply', async () => {
    const sent: Outgoing[][] = [];
    const commands = gatewayOn(async (messages) => {
      sent.push([...messages] as Outgoing[]);
      return messages.map((_, i) => ({ topic: 'facts', partition: 0, offset: String(i) }));
    });
    await commands.publish([fact, fact], 1_000);
    expect(sent).toEqual([[fact, fact]]);
  });

  it('is UNAVAILABLE (retriable) when Kafka refuses the messages or does not answer in time', async () => {
    const refused = await refusal(gatewayOn(() => Promise.reject(new Error('NOT_ENOUGH_REPLICAS'))).publish([fact], 1_000));
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', retriable: true, message: expect.stringMatching(/NOT_ENOUGH_REPLICAS.*retry later/) });
    const silent = await refusal(gatewayOn(() => new Promise(() => {})).publish([fact], 20));
    expect(silent).toMatchObject({ code: 'UNAVAILABLE', retriable: true, message: expect.stringMatching(/within 20 ms/) });
  });
});
