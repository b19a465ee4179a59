/**
 * The drivers projection (services/rides/projections/rides.ts) on a real PostgreSQL keeps each driver's newest
 * position by the time it was taken, whatever order positions arrive in: within one batch (folded in memory) and
 * across batches (the conditional upsert), reported positions and the dispatcher's alike, and a status projected
 * before or after them fills in its own columns. A position event from before positions had a time counts as taken
 * when it was decided.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driverLocationReported, type EventEnvelope, type Location } from '../services/rides/contract.ts';
import { ridesProjection } from '../services/rides/projections/rides.ts';
import { event } from '../services/rides/testing.ts';
import { createPrisma, sqlOf, type PrismaClient } from '../services/shared/db.ts';
import { freshDatabase } from './support/system.ts';

let database: Awaited<ReturnType<typeof freshDatabase>>;
let prisma: PrismaClient;

beforeAll(async () => {
  database = await freshDatabase('rides_projection');
  prisma = createPrisma(database.url);
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.drop();
});

const at = (second: number) => new Date(Date.UTC(2026, 10, 27, 10, 0, second));
const place = (n: number): Location => ({ lat: 52.5 + n / 100, lng: 13.4 });
const reported = (driverId: string, n: number, second: number) => driverLocationReported(driverId, place(n), at(second)).envelope as EventEnvelope;

async function project(batches: EventEnvelope[][]) {
  for (const batch of batches) await sqlOf(prisma).transaction((tx) => ridesProjection.apply(tx, batch as never, []));
}

async function rowOf(id: string) {
  const row = await prisma.driver.findUnique({ where: { id } });
  return row && { status: row.status, location: { lat: row.lat, lng: row.lng }, locationAt: row.locationAt?.toISOString() };
}

describe('the drivers projection', () => {
  it('keeps the newest position by the time it was taken, in either order of arrival, in one batch or several', async () => {
    const newest = { status: 'AVAILABLE', location: place(2), locationAt: at(2).toISOString() };
    const online = (id: string) => event({ type: 'DriverWentOnline', data: { driverId: id } }, at(0)) as EventEnvelope;
    const cases: [string, (id: string) => EventEnvelope[][]][] = [
      ['in order, one batch', (id) => [[online(id), reported(id, 1, 1), reported(id, 2, 2)]]],
      ['newer first, one batch', (id) => [[online(id), reported(id, 2, 2), reported(id, 1, 1)]]],
      ['in order, two batches', (id) => [[online(id), reported(id, 1, 1)], [reported(id, 2, 2)]]],
      ['newer first, two batches', (id) => [[reported(id, 2, 2)], [reported(id, 1, 1)], [online(id)]]],
      ['the newer one redelivered after the older', (id) => [[online(id), reported(id, 2, 2)], [reported(id, 1, 1)], [reported(id, 2, 2)]]],
      // The dispatcher's DriverMoved takes part alike (a command's position, or the newest said again).
      ['a DriverMoved older than a report', (id) => [[online(id), reported(id, 2, 2)], [event({ type: 'DriverMoved', data: { driverId: id, location: place(9), at: at(1).toISOString() } }, at(3)) as EventEnvelope]]],
      ['a DriverMoved newest said again', (id) => [[online(id), reported(id, 2, 2), reported(id, 1, 1), event({ type: 'DriverMoved', data: { driverId: id, location: place(2), at: at(2).toISOString() } }, at(3)) as EventEnvelope]]],
    ];
    for (const [name, batches] of cases) {
      const id = `d-${randomUUID()}`;
      await project(batches(id));
      expect(await rowOf(id), name).toEqual(newest);
    }
  });

  it('reads a position without a time of its own as taken when it was decided', async () => {
    const id = `d-${randomUUID()}`;
    const old = (n: number, second: number) => event({ type: 'DriverMoved', data: { driverId: id, location: place(n) } }, at(second)) as EventEnvelope;
    await project([[old(1, 1)], [reported(id, 3, 3)], [old(2, 2)]]);
    expect(await rowOf(id)).toEqual({ status: 'OFFLINE', location: place(3), locationAt: at(3).toISOString() });
    await project([[old(4, 4)]]);
    expect(await rowOf(id)).toEqual({ status: 'OFFLINE', location: place(4), locationAt: at(4).toISOString() });
  });

  it('lets a row projected before positions had a time take any position', async () => {
    const id = `d-${randomUUID()}`;
    await prisma.$executeRaw`INSERT INTO drivers (id, status, lat, lng, updated_at) VALUES (${id}, 'AVAILABLE', 1, 1, ${at(50)})`;
    await project([[reported(id, 1, 1)]]);
    expect(await rowOf(id)).toEqual({ status: 'AVAILABLE', location: place(1), locationAt: at(1).toISOString() });
  });
});
