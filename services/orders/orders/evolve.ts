/** The order aggregate: its lifecycle, folded from the order's events and its checks' verdicts. */
import { assertNever } from '../../shared/errors.ts';
import type { CheckType, EventData, EventEnvelope, ValidationResult } from '../contract.ts';

export type OrderStatus = 'NEW' | 'CREATED' | 'VALIDATED' | 'FAILED';

export interface OrderState {
  status: OrderStatus;
  details?: Omit<EventData['OrderCreated'], 'orderId'>;
  checks: Partial<Record<CheckType, { result: ValidationResult; reason: string | null }>>;
}

export const initialOrderState = (): OrderState => ({ status: 'NEW', checks: {} });

export function evolve(state: OrderState, event: EventEnvelope): OrderState {
  switch (event.type) {
    case 'OrderCreated': {
      const { orderId: _, ...details } = event.data;
      return { ...state, status: 'CREATED', details };
    }
    case 'OrderCheckCompleted':
      return {
        ...state,
        checks: { ...state.checks, [event.data.checkType]: { result: event.data.result, reason: event.data.reason } },
      };
    case 'OrderValidated':
      return { ...state, status: 'VALIDATED' };
    case 'OrderFailed':
      return { ...state, status: 'FAILED' };
    case 'StockAdded':
    case 'StockReserved':
    case 'StockReservationFailed':
    case 'StockReleased':
      return state;
    default:
      return assertNever(event);
  }
}
