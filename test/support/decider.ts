/**
 * Given/When/Then for deciders: `given(events).when(input).then(events)`. State is folded with the
 * service's own `evolve` and `stateKey`, exactly as the runtime does.
 */
import { expect } from 'vitest';
import { SystemError } from '../../services/shared/errors.ts';
import {
  createCommand, createEvent, EVENT_ROUTES,
  type Command, type DomainEvent, type Envelope, type EventEnvelope,
} from '../../services/shared/messages.ts';
import type { ServiceDefinition } from '../../services/shared/service.ts';

const ORIGIN = createCommand({ type: 'AddInventory', data: { product: 'origin', quantity: 1 } });

export const command = (c: Command) => createCommand(c);

/** An event as a service would have written it, at `at` (default: now). */
export const event = (e: DomainEvent, at: Date = new Date()) => createEvent(e, ORIGIN, at);

export function specify<S>(service: ServiceDefinition<S>) {
  return {
    given(history: EventEnvelope[]) {
      return {
        when(input: Envelope, now = new Date()) {
          const run = () => {
            const key = service.stateKey(input);
            let state = service.initialState();
            for (const past of history) if (service.stateKey(past) === key) state = service.evolve(state, past);
            if (input.kind === 'event' && service.stateTopics.includes(EVENT_ROUTES[input.type].topic)) state = service.evolve(state, input);
            return service.decide(input, state, now);
          };
          return {
            then(expected: DomainEvent[]) {
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
