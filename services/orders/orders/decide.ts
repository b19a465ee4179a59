/** The orders service's decisions: create an order once, and close it once all checks have answered. */
import { idTaken, SystemError } from '../../shared/errors.ts';
import { CHECK_TYPES, type DomainEvent, type Envelope } from '../contract.ts';
import type { OrderState } from './evolve.ts';

export function decide(input: Envelope, state: OrderState, _now: Date): DomainEvent[] {
  switch (input.type) {
    case 'PlaceOrder': {
      const { orderId, ...details } = input.data;
      // The gateway's policy refuses this first; the service refuses too, for commands from elsewhere. Commands
      // without an actor (before authentication, seeds, tools on the bus) are not judged.
      const { actor } = input;
      if (actor && !actor.roles.includes('admin') && actor.sub !== details.customerId) {
        throw new SystemError('FORBIDDEN', `${actor.sub} may not place order ${orderId} for customer ${details.customerId}: only for itself`);
      }
      if (state.status === 'NEW') {
        // Checks judge quantity × price; a total beyond what a number can hold is not an order to judge.
        if (!Number.isFinite(details.quantity * details.price)) {
          throw new SystemError('BAD_USER_INPUT', `quantity × price of order ${orderId} is too large to represent`);
        }
        return [{ type: 'OrderCreated', data: input.data }];
      }
      // The client-supplied id makes placing an order idempotent; reusing it for another order is a mistake. One
      // answer whoever holds the id, saying nothing of that order (README, Client-chosen ids).
      if (JSON.stringify(state.details) !== JSON.stringify(details)) throw idTaken('ORDER_ID_CONFLICT', 'order', orderId);
      return [];
    }
    case 'OrderCheckCompleted': {
      // `state` already includes this verdict: the runtime folds input events into state before deciding.
      if (state.status !== 'CREATED' || !state.details) return [];
      if (CHECK_TYPES.some((type) => !state.checks[type])) return [];
      const checks = CHECK_TYPES.map((checkType) => ({ checkType, ...state.checks[checkType]! }));
      const { orderId } = input.data;
      return checks.some((check) => check.result === 'FAIL')
        ? [{ type: 'OrderFailed', data: { orderId, product: state.details.product, checks } }]
        : [{ type: 'OrderValidated', data: { orderId, checks } }];
    }
    default:
      return [];
  }
}
