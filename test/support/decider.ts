/**
 * Given/When/Then for deciders: `given(events).when(input).then(events)`. State is folded with the
 * service's own `evolve` and `stateKey`, exactly as the runtime does; what `decide` returns is checked
 * against the contract, as the runtime would.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { SystemError } from '../../services/shared/errors.ts';
import type { AnyContract, CommandEnvelope, EnvelopeOf, EventEnvelope, EventOf } from '../../services/shared/messages.ts';
import type { ServiceDefinition } from '../../services/shared/service.ts';

/** The command that started every chain of test events. */
const ORIGIN = {
  kind: 'command', commandId: randomUUID(), type: 'Origin', schemaVersion: 1, aggregateId: 'origin',
  occurredAt: new Date(0).toISOString(), data: {},
} as CommandEnvelope;

/** An event of the contract as a service would have written it, at `at` (default: now). */
export function eventOf<K extends AnyContract>(contract: K, e: EventOf<K>, at: Date = new Date()): EventEnvelope<EventOf<K>> {
  return contract.event(e, ORIGIN, at);
}

export function specify<S, K extends AnyContract>(service: ServiceDefinition<S, K>) {
  return {
    given(history: EventEnvelope<EventOf<K>>[]) {
      return {
        when(input: EnvelopeOf<K>, now = new Date()) {
          const run = () => {
            const key = service.stateKey(input);
            let state = service.initialState();
            for (const past of history) if (service.stateKey(past as EnvelopeOf<K>) === key) state = service.evolve(state, past);
            if (input.kind === 'event' && service.stateTopics.includes(service.contract.topicOf(input))) {
              state = service.evolve(state, input as EventEnvelope<EventOf<K>>);
            }
            const decided = service.decide(input, state, now);
            for (const e of decided) service.contract.event(e, input, now); // valid by the contract, or this throws
            return decided;
          };
          return {
            then(expected: EventOf<K>[]) {
              expect(run()).toEqual(expected);
            },
            thenMatches(expected: unknown[]) {
              expect(run()).toMatchObject(expected);
            },
            thenRejects(code: string, message?: RegExp) {
              let error: unknown;
              try {
                run();
              } catch (e) {
                error = e;
              }
              expect(error).toBeInstanceOf(SystemError);
              expect((error as SystemError).code).toBe(code);
              if (message) expect((error as SystemError).message).toMatch(message);
            },
          };
        },
      };
    },
  };
}
