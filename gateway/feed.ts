/**
 * Live order updates, fed by the gateway's own consumer of the order topics. Each event is pushed once
 * the orders projection has applied it, as the order's full current state, so every gateway process
 * serves its own subscribers and what they see agrees with queries.
 */
import type { PrismaClient } from '../services/shared/db.ts';
import type { EventEnvelope, LogPosition } from '../services/shared/messages.ts';
import type { OrderModelWithValidations as OrderModel } from './context.ts';
import type { ProjectionWatcher } from './progress.ts';
import type { Logger } from '../services/shared/log.ts';

export interface OrderFeed {
  /** The order's current state (when it exists), then each change, never going backwards. */
  updates(orderId: string): AsyncIterableIterator<OrderModel>;
  /** Fed by the gateway's consumer with every event of the order topics. */
  onEvent(event: EventEnvelope, position: LogPosition): void;
  close(): void;
}

const RECENT_ORDERS = 50_000;
const PROJECTION_WAIT_MS = 30_000;
const STATE_RANK = { CREATED: 0, VALIDATED: 1, FAILED: 1 } as const;
/** Orders only move forward: created, then verdicts one by one, then a terminal state. */
const progressOf = (order: OrderModel) => STATE_RANK[order.state] * 10 + order.validations.length;

export async function loadOrder(prisma: PrismaClient, id: string): Promise<OrderModel | null> {
  const [order, validations] = await Promise.all([
    prisma.order.findUnique({ where: { id } }),
    prisma.orderValidation.findMany({ where: { orderId: id }, orderBy: { checkType: 'asc' } }),
  ]);
  return order && { ...order, validations };
}

interface Listener {
  push(order: OrderModel): void;
}

export function createOrderFeed(
  prisma: PrismaClient,
  watcher: ProjectionWatcher,
  projectorsOf: (topic: string) => string[],
  log: Logger,
): OrderFeed {
  const listeners = new Map<string, Set<Listener>>();
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

  async function current(orderId: string): Promise<OrderModel | null> {
    const positions = [...(recent.get(orderId)?.values() ?? [])];
    await Promise.all(positions.map((p) => watcher.reached(projectorsOf(p.topic), p, PROJECTION_WAIT_MS)));
    return loadOrder(prisma, orderId);
  }

  function broadcast(orderId: string, order: OrderModel | null) {
    if (order) for (const listener of listeners.get(orderId) ?? []) listener.push(order);
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
    onEvent(event, position) {
      const orderId = 'orderId' in event.data ? event.data.orderId : undefined;
      if (!orderId) return;
      remember(orderId, position);
      if (!listeners.has(orderId)) return;
      enqueue(orderId, async () => {
        await watcher.reached(projectorsOf(position.topic), position, PROJECTION_WAIT_MS);
        broadcast(orderId, await loadOrder(prisma, orderId));
      });
    },

    updates(orderId) {
      const queue: OrderModel[] = [];
      let wake: (() => void) | undefined;
      let done = false;
      let last = -1;
      const listener: Listener = {
        push(order) {
          const progress = progressOf(order);
          if (progress <= last) return;
          last = progress;
          queue.push(order);
          wake?.();
        },
      };
      const finish = () => {
        done = true;
        listeners.get(orderId)?.delete(listener);
        if (listeners.get(orderId)?.size === 0) listeners.delete(orderId);
        closers.delete(finish);
        wake?.();
      };
      listeners.set(orderId, (listeners.get(orderId) ?? new Set()).add(listener));
      closers.add(finish);
      // Listening first, then reading the current state, so no change falls between the two.
      enqueue(orderId, async () => {
        const order = await current(orderId);
        if (order) listener.push(order);
      });

      const iterator: AsyncIterableIterator<OrderModel> = {
        async next() {
          while (!queue.length && !done) await new Promise<void>((resolve) => (wake = resolve));
          if (queue.length) return { value: queue.shift()!, done: false };
          return { value: undefined, done: true };
        },
        async return() {
          finish();
          return { value: undefined, done: true };
        },
        [Symbol.asyncIterator]() {
          return iterator;
        },
      };
      return iterator;
    },

    close() {
      for (const close of [...closers]) close();
    },
  };
}
