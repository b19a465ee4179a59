/**
 * The rides domain's fold (services/rides/graphql/history.ts `rideStatesOf`, which serves `ride(asOf)`, live feeds
 * and resumed subscriptions) against its SQL projection (services/rides/projections/rides.ts) on a real PostgreSQL:
 * for random rides (assigned, arrived, started, completed or cancelled at any point, events decided again later,
 * a request repeated), each projected in random batches, the fold of the history gives the projection's row.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TOPICS, type DomainEvent, type EventEnvelope } from '../services/rides/contract.ts';
import { rideStatesOf } from '../services/rides/graphql/history.ts';
import { ridesProjection } from '../services/rides/projections/rides.ts';
import { event } from '../services/rides/testing.ts';
import { createPrisma, sqlOf, type PrismaClient } from '../services/shared/db.ts';
import { cursorOf, type IndexedEvent } from '../services/shared/event-index.ts';
import { freshDatabase } from './support/system.ts';
import { random, randomBatches, type Random } from './support/random.ts';

const CASES = 60;
let database: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: PrismaClient;

beforeAll(async () => {
  database = await freshDatabase('rides_fold');
  prisma = createPrisma(database.url);
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.drop();
});

const PICKUP = { lat: 52.5, lng: 13.4 };

/** One ride's events as the dispatcher wrote them, a few milliseconds (sometimes none) apart. */
function randomRide(rng: Random, rideId: string): EventEnvelope[] {
  let clock = Date.UTC(2026, 11, 7, 12) + rng.int(1000);
  const at = () => new Date((clock += rng.pick([0, 1, 5, 30])));
  const requestedAt = new Date(clock).toISOString();
  const request: DomainEvent = {
    type: 'RideRequested',
    data: { rideId, riderId: 'rita', pickup: PICKUP, dropoff: PICKUP, requestedAt, expiresAt: new Date(clock + 60_000).toISOString() },
  } as DomainEvent;
  const driverId = `d-${rng.int(3)}`;
  const steps: DomainEvent[] = [
    { type: 'DriverAssigned', data: { rideId, driverId } },
    { type: 'DriverArrived', data: { rideId, driverId, location: PICKUP } },
    { type: 'RideStarted', data: { rideId, driverId } },
    { type: 'RideCompleted', data: { rideId, driverId } },
  ] as DomainEvent[];
  const log: EventEnvelope[] = [event(request, at())];
  const reached = rng.int(steps.length + 1);
  for (const step of steps.slice(0, reached)) log.push(event(step, at()));
  if (reached < 3 && rng.chance(0.5)) {
    log.push(event({ type: 'RideCancelled', data: { rideId, driverId: reached ? driverId : null, reason: rng.pick(['rider', 'timeout'] as const) } } as DomainEvent, at()));
  }
  // Decided again after a publish that timed out: a copy of an earlier event, later.
  for (let i = rng.int(3); i > 0; i -= 1) {
    const copied = rng.pick(log);
    log.push(event({ type: copied.type, data: copied.data } as DomainEvent, at()));
  }
  return log;
}

const indexed = (log: EventEnvelope[]): IndexedEvent[] =>
  log.map((e, offset) => {
    const at = { aggregateId: e.aggregateId, occurredAt: new Date(e.occurredAt), topic: TOPICS.rideEvents, partition: 0, offset: String(offset) };
    return { ...at, eventId: e.eventId, position: cursorOf(at), type: e.type, commandId: e.correlationId, actor: null, data: e.data };
  }).sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || Number(a.offset) - Number(b.offset));

it(`folds ${CASES} random rides into the projection's rows`, async () => {
  const seed = Date.now() % 1_000_000;
  for (let n = 0; n < CASES; n += 1) {
    const rng = random(seed + n);
    const rideId = `r-${randomUUID()}`;
    const log = randomRide(rng, rideId);
    for (const batch of randomBatches(rng, [log])) await sqlOf(prisma).transaction((tx) => ridesProjection.apply(tx, batch as never, []));
    const { cursor: _, driverLocation: __, ...folded } = rideStatesOf(indexed(log)).at(-1)!;
    const projected = await prisma.ride.findUnique({ where: { id: rideId } });
    expect(folded, `seed ${rng.seed}: ${log.map((e) => `${e.type}@${e.occurredAt.slice(17)}`).join(', ')}`).toEqual(projected);
  }
});
