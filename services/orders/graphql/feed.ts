/**
 * Live order updates, fed by the gateway's own consumer of the order topics, so every gateway process
 * serves its own subscribers. A watched order's state is folded from its history in the runtime's event index
 * once, then each of its events is folded in and pushed as the order's full state with its cursor: one update per
 * event (creation, each verdict, the end). An update is pushed only once the projections (the index among them)
 * have applied its event, so what a subscriber sees, a query sees too. A subscriber that brings a cursor gets each
 * state since it from the index first.
 */
import { createLiveFeed, cursorOfUpdate, type GatewayServices, type LiveFeed } from '../../shared/graphql/index.ts';
import DataLoader from 'dataloader';
import { statesAfter, type EventIndexReader, type IndexedEvent } from '../../shared/event-index.ts';
import type { Logger } from '../../shared/log.ts';
import { CHECK_TYPES, TOPICS, type EventEnvelope, type EventOfType } from '../contract.ts';
import type { OrderModelWithValidations, OrderModelWithValidations as OrderModel } from './context.ts';

/** The topics of an order's events: its history in the event index. */
export const ORDER_STREAM_TOPICS = [TOPICS.orderEvents, TOPICS.orderValidations] as const;
export const orderStream = (orderId: string) => ({ aggregateId: orderId, topics: ORDER_STREAM_TOPICS });

/**
 * The order's current state (when it exists), then each change, never going backwards; with `after` (a position in
 * its history), each state since that one instead of the current one, then the changes. Fed by the gateway's consumer
 * with every message of the order topics, by the order it is keyed by.
 */
export type OrderFeed = LiveFeed<OrderModel, EventEnvelope>;

const STATE_RANK = { CREATED: 0, VALIDATED: 1, FAILED: 1 } as const;
/** Orders only move forward: created, then verdicts one by one, then a terminal state. */
const progressOf = (order: OrderModel) => STATE_RANK[order.state] * 10 + order.validations.length;

/**
 * The order after one more of its events, as the orders projection would show it. Verdicts are immutable
 * (one per check) and an order ends once, so a repeated event changes nothing.
 */
export function foldOrder(order: OrderModel, event: EventEnvelope): OrderModel {
  const at = new Date(event.occurredAt);
  const withVerdicts = (checks: { checkType: OrderModel['validations'][number]['checkType']; result: 'PASS' | 'FAIL'; reason: string | null }[]) => {
    const known = new Set(order.validations.map((v) => v.checkType));
    const added = checks
      .filter((c) => !known.has(c.checkType))
      .map(({ checkType, result, reason }) => ({ orderId: order.id, checkType, result, reason, recordedAt: at }));
    return [...order.validations, ...added].sort((a, b) => CHECK_TYPES.indexOf(a.checkType) - CHECK_TYPES.indexOf(b.checkType));
  };
  const later = (a: Date, b: Date) => (a > b ? a : b);
  switch (event.type) {
    case 'OrderCheckCompleted': {
      const validations = withVerdicts([event.data]);
      return validations.length === order.validations.length ? order : { ...order, validations, updatedAt: later(order.updatedAt, at) };
    }
    case 'OrderValidated':
    case 'OrderFailed':
      if (order.state !== 'CREATED') return order;
      return {
        ...order,
        state: event.type === 'OrderValidated' ? 'VALIDATED' : 'FAILED',
        validations: withVerdicts(event.data.checks),
        updatedAt: at, // as the projection has it: an order's last change is its terminal event
      };
    default:
      return order;
  }
}

/** An indexed event as the envelope its fold reads (type, data, time). */
const envelopeOf = (event: IndexedEvent) => ({ type: event.type, data: event.data, occurredAt: event.occurredAt.toISOString() }) as EventEnvelope;

/**
 * Each state of an order along its history (one per event, oldest first), each with the cursor of its event: what
 * the projection showed after each. Empty before the order's creation. A verdict written in the same millisecond as
 * the creation may sort before it (by topic): it is folded in with the creation, as the projection does.
 */
export function statesOf(history: readonly IndexedEvent[]): OrderModelWithValidations[] {
  const states: OrderModelWithValidations[] = [];
  const early: EventEnvelope[] = [];
  let order: OrderModelWithValidations | undefined;
  for (const event of history) {
    const envelope = envelopeOf(event);
    if (order) order = foldOrder(order, envelope);
    else if (envelope.type === 'OrderCreated') order = early.reduce(foldOrder, createdOrder(envelope as EventOfType<'OrderCreated'>));
    else {
      early.push(envelope);
      continue;
    }
    order = { ...order, cursor: event.position };
    states.push(order);
  }
  return states;
}

/** An order's first state, from its `OrderCreated`: what the orders projection shows right after that event. */
export function createdOrder(event: EventOfType<'OrderCreated'>): OrderModel {
  const { orderId: id, ...details } = event.data;
  const at = new Date(event.occurredAt);
  return { id, ...details, state: 'CREATED', createdAt: at, updatedAt: at, validations: [] };
}

export function createOrderFeed(events: EventIndexReader, services: Pick<GatewayServices, 'watcher' | 'projectorsOf' | 'logEnd'>, log: Logger): OrderFeed {
  // Histories asked for in one tick (subscribers resuming together, after a restart) are one read; never cached.
  const histories = new DataLoader<string, IndexedEvent[]>(
    async (ids) => {
      const read = await events.histories(ids, ORDER_STREAM_TOPICS);
      return ids.map((id) => read.get(id) ?? []);
    },
    { cache: false, maxBatchSize: 500 },
  );

  return createLiveFeed<OrderModel, EventEnvelope>({
    // Folded from the event index: a state and its cursor come from one read, so they always agree.
    async load(orderId, at) {
      const states = statesOf(await histories.load(orderId));
      const cursor = at && cursorOfUpdate(at);
      return (cursor && states.find((state) => state.cursor === cursor)) || states.at(-1) || null;
    },
    fold(order, update) {
      const cursor = cursorOfUpdate(update);
      if (order) return { ...foldOrder(order, update.event), cursor };
      return update.event.type === 'OrderCreated' ? { ...createdOrder(update.event), cursor } : null;
    },
    isNewer: (next, last) => progressOf(next) > progressOf(last),
    latestStateWins: true,
    async statesSince(orderId, after) {
      const indexed = await histories.load(orderId);
      return statesAfter(indexed, statesOf(indexed), after);
    },
  }, { watcher: services.watcher, projectorsOf: services.projectorsOf, log, entity: 'order', logEnd: () => services.logEnd(ORDER_STREAM_TOPICS) });
}
