/**
 * Live order updates, fed by the gateway's own consumer of the order topics, so every gateway process
 * serves its own subscribers. A watched order's state is folded from its history in the runtime's event index
 * once, then each of its events is folded in and pushed as the order's full state with its cursor: one update per
 * event (creation, each verdict, the end). An update is pushed only once the projections (the index among them)
 * have applied its event, so what a subscriber sees, a query sees too. A subscriber that brings a cursor gets each
 * state since it from the index first.
 */
import { createLiveQueue, type ProjectionWatcher } from '../../shared/graphql/index.ts';
import DataLoader from 'dataloader';
import { comparePositions, cursorOf, type EventIndexReader, type EventPosition, type IndexedEvent } from '../../shared/event-index.ts';
import type { Logger } from '../../shared/log.ts';
import type { LogPosition } from '../../shared/messages.ts';
import { CHECK_TYPES, TOPICS, type EventEnvelope, type EventOfType } from '../contract.ts';
import type { OrderModelWithValidations, OrderModelWithValidations as OrderModel } from './context.ts';

/** The topics of an order's events: its history in the event index. */
export const ORDER_STREAM_TOPICS = [TOPICS.orderEvents, TOPICS.orderValidations] as const;
export const orderStream = (orderId: string) => ({ aggregateId: orderId, topics: ORDER_STREAM_TOPICS });

export interface OrderFeed {
  /**
   * The order's current state (when it exists), then each change, never going backwards. With `after` (a
   * position in its history), each state since that one instead of the current one, then the changes.
   */
  updates(orderId: string, after?: EventPosition): AsyncIterableIterator<OrderModel>;
  /** The first of those states that satisfies `until`, or undefined after `timeoutMs`. */
  first(orderId: string, until: (order: OrderModel) => boolean, timeoutMs: number): Promise<OrderModel | undefined>;
  /**
   * Fed by the gateway's consumer with every message of the order topics, by the order it is keyed by: `read`
   * (decoding and validating it) runs only for an order someone watches.
   */
  onMessage(orderId: string, position: LogPosition & { logicalTopic: string }, read: () => EventEnvelope | undefined): void;
  close(): void;
}

const RECENT_ORDERS = 50_000;

const PROJECTION_WAIT_MS = 30_000;
const STATE_RANK = { CREATED: 0, VALIDATED: 1, FAILED: 1 } as const;
/** Orders only move forward: created, then verdicts one by one, then a terminal state. */
const progressOf = (order: OrderModel) => STATE_RANK[order.state] * 10 + order.validations.length;

interface Listener {
  push(order: OrderModel): void;
  /** Catching up from the event index: live changes are skipped meanwhile (the index has them by then). */
  resuming: boolean;
}

/** An order with listeners: who listens, who still waits for its first state, and its state as of the last event folded in. */
interface Watched {
  listeners: Set<Listener>;
  waiting: Set<Listener>;
  current: OrderModel | null;
}

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
    order = { ...order, cursor: cursorOf(event) };
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

export function createOrderFeed(
  events: EventIndexReader,
  watcher: ProjectionWatcher,
  projectorsOf: (topic: string) => string[],
  log: Logger,
): OrderFeed {
  const watched = new Map<string, Watched>();
  // Histories asked for in one tick (subscribers resuming together, after a restart) are one read; never cached.
  const histories = new DataLoader<string, IndexedEvent[]>(
    async (ids) => {
      const read = await events.histories(ids, ORDER_STREAM_TOPICS);
      return ids.map((id) => read.get(id) ?? []);
    },
    { cache: false, maxBatchSize: 500 },
  );
  // One chain per order keeps its pushes in log order.
  const chains = new Map<string, Promise<void>>();
  const closers = new Set<() => void>();
  // The newest position seen per order and topic, kept for orders nobody listens to yet: a listener that
  // arrives after an event was consumed but before it was projected waits for it instead of missing it.
  const recent = new Map<string, Map<string, LogPosition>>();

  function remember(orderId: string, position: LogPosition) {
    const positions = recent.get(orderId) ?? new Map<string, LogPosition>();
    recent.delete(orderId);
    recent.set(orderId, positions.set(position.topic, position));
    if (recent.size > RECENT_ORDERS) recent.delete(recent.keys().next().value!);
  }

  /**
   * Each state of the order's history, folded from the event index once every event this gateway has seen of it is
   * indexed: a state and its cursor come from one read, so they always agree.
   */
  async function history(orderId: string): Promise<{ events: IndexedEvent[]; states: OrderModelWithValidations[] }> {
    const positions = [...(recent.get(orderId)?.values() ?? [])];
    await Promise.all(positions.map((p) => watcher.reached(projectorsOf(p.topic), p, PROJECTION_WAIT_MS)));
    const indexed = await histories.load(orderId);
    return { events: indexed, states: statesOf(indexed) };
  }

  /** The order's state now, or as of the event at `cursor` when the index has it. */
  async function current(orderId: string, cursor?: string): Promise<OrderModel | null> {
    const { states } = await history(orderId);
    return (cursor && states.find((state) => state.cursor === cursor)) || states.at(-1) || null;
  }

  /** The states after `after` in the order's history, oldest first. */
  async function statesSince(orderId: string, after: EventPosition): Promise<OrderModelWithValidations[]> {
    const { events: indexed, states } = await history(orderId);
    const since = indexed.findIndex((event) => comparePositions(event, after) > 0);
    return since < 0 ? [] : states.slice(since);
  }

  function enqueue(orderId: string, work: () => Promise<void>) {
    const next = (chains.get(orderId) ?? Promise.resolve())
      .then(work)
      .catch((error: Error) => log.warn(`could not push an update of order ${orderId}: ${error.message}`));
    chains.set(orderId, next);
    void next.then(() => {
      if (chains.get(orderId) === next) chains.delete(orderId);
    });
  }

  return {
    onMessage(orderId, position, read) {
      remember(orderId, position);
      const entry = watched.get(orderId);
      if (!entry) return;
      const event = read();
      // The contract keys these topics by order: a message keyed otherwise is no update of this order.
      if (!event || !('orderId' in event.data) || event.data.orderId !== orderId) return;
      enqueue(orderId, async () => {
        await watcher.reached(projectorsOf(position.topic), position, PROJECTION_WAIT_MS);
        // The first event of an order watched before it existed is its creation: its state then, not whatever the
        // projection shows by now (later events may be projected already, and each must reach the listeners).
        const cursor = cursorOf({ aggregateId: orderId, occurredAt: new Date(event.occurredAt), topic: position.logicalTopic, partition: position.partition, offset: position.offset });
        if (entry.current) entry.current = { ...foldOrder(entry.current, event), cursor };
        else entry.current = event.type === 'OrderCreated' ? { ...createdOrder(event), cursor } : await current(orderId, cursor);
        if (entry.current) for (const listener of entry.listeners) if (!listener.resuming) listener.push(entry.current);
      });
    },

    updates(orderId, after) {
      let last = -1;
      const entry = watched.get(orderId) ?? { listeners: new Set<Listener>(), waiting: new Set<Listener>(), current: null };
      watched.set(orderId, entry);
      const queue = createLiveQueue<OrderModel>(() => {
        entry.listeners.delete(listener);
        entry.waiting.delete(listener);
        if (!entry.listeners.size && watched.get(orderId) === entry) watched.delete(orderId);
        closers.delete(queue.close);
      });
      const listener: Listener = {
        resuming: after !== undefined,
        push(order) {
          const progress = progressOf(order);
          if (progress <= last) return;
          last = progress;
          queue.push(order);
        },
      };
      entry.listeners.add(listener);
      closers.add(queue.close);
      if (after) {
        // Listening first, then reading the history after `after`: a change that comes meanwhile is in the index
        // by the time its live push would reach this listener, which takes it from there on.
        enqueue(orderId, async () => {
          const states = await statesSince(orderId, after).catch((error: Error) => {
            queue.close();
            throw error;
          });
          for (const state of states) listener.push(state);
          listener.resuming = false;
        });
        return queue.iterator;
      }
      // Listening first, then reading the current state, so no change falls between the two. Listeners that
      // arrive together share one read, and none is needed once the order's events are being folded in.
      entry.waiting.add(listener);
      if (entry.waiting.size === 1) {
        enqueue(orderId, async () => {
          const waiting = [...entry.waiting];
          entry.waiting.clear();
          if (!entry.current) entry.current = await current(orderId);
          if (entry.current) for (const l of waiting) l.push(entry.current);
        });
      }
      return queue.iterator;
    },

    async first(orderId, until, timeoutMs) {
      const updates = this.updates(orderId);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      try {
        for (;;) {
          const next = await Promise.race([updates.next(), timedOut]);
          if (next === 'timeout' || next.done) return undefined;
          if (until(next.value)) return next.value;
        }
      } finally {
        clearTimeout(timer);
        await updates.return?.();
      }
    },

    close() {
      for (const close of [...closers]) close();
    },
  };
}
