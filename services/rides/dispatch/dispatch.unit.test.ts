import { describe, expect, it } from 'vitest';
import { specify } from '../../../test/support/decider.ts';
import { SystemError } from '../../shared/errors.ts';
import { clockTicked, driverLocationReported, ridesContract, type Command, type DomainEvent, type Envelope, type Location } from '../contract.ts';
import { command, event } from '../testing.ts';
import { decide } from './decide.ts';
import { evolve, initialCity, type City } from './evolve.ts';
import { dispatchService } from './handler.ts';
import { entries, get } from '../../shared/persistent-map.ts';

// The decisions of one region's city (decide.ts); the handler's region stamping is tested on its own below.
const dispatch = specify({ ...dispatchService, decide });
// Around Paris: 0.01° of latitude is about 1.1 km.
const PICKUP: Location = { lat: 48.86, lng: 2.34 };
const DROPOFF: Location = { lat: 48.87, lng: 2.3 };
const north = (km: number): Location => ({ lat: PICKUP.lat + km / 111.195, lng: PICKUP.lng });
const REQUESTED_AT = '2026-11-27T10:00:00.000Z';
const EXPIRES_AT = '2026-11-27T10:02:00.000Z';
/** When the history's drivers went online, and when the commands under test were sent. */
const ONLINE_AT = new Date('2026-11-27T09:00:00.000Z');
const SENT_AT = '2026-11-27T10:00:30.000Z';
/** A command as the gateway sends it, at SENT_AT. */
const sent = (c: Command) => ({ ...command(c), occurredAt: SENT_AT }) as Envelope;

const request = (rideId: string, pickup = PICKUP, requestedAt = REQUESTED_AT) =>
  ({ rideId, riderId: `rider-${rideId}`, pickup, dropoff: DROPOFF, requestedAt, expiresAt: EXPIRES_AT });
const online = (driverId: string, location: Location) => [
  event({ type: 'DriverWentOnline', data: { driverId } }, ONLINE_AT),
  event({ type: 'DriverMoved', data: { driverId, location } }, ONLINE_AT),
];
const requested = (rideId: string, pickup = PICKUP, requestedAt = REQUESTED_AT) => event({ type: 'RideRequested', data: request(rideId, pickup, requestedAt) });
const assigned = (rideId: string, driverId: string) => [
  event({ type: 'DriverAssigned', data: { rideId, driverId } }),
  event({ type: 'DriverStatusChanged', data: { driverId, status: 'ON_RIDE', rideId } }),
];
const assignment = (rideId: string, driverId: string): DomainEvent[] => [
  { type: 'DriverAssigned', data: { rideId, driverId } },
  { type: 'DriverStatusChanged', data: { driverId, status: 'ON_RIDE', rideId } },
];
const tick = (now: string) => clockTicked(new Date(now)).envelope as Envelope;

/** What decide refuses with: its code and details. */
function refusal(history: DomainEvent[], input: Envelope): SystemError {
  const city = history.reduce(evolve, initialCity());
  try {
    decide(input, city, new Date(0));
  } catch (error) {
    return error as SystemError;
  }
  throw new Error('decide accepted the input');
}

describe('dispatch: assignment', () => {
  it('assigns the nearest AVAILABLE driver within 10 km of the pickup', () => {
    dispatch
      .given([...online('far', north(3)), ...online('near', north(1)), ...online('beyond', north(11))])
      .when(command({ type: 'RequestRide', data: request('r1') }))
      .then([{ type: 'RideRequested', data: request('r1') }, ...assignment('r1', 'near')]);
  });

  it('breaks a tie in distance by driver id', () => {
    dispatch
      .given([...online('b', north(2)), ...online('a', north(2)), ...online('c', north(2))])
      .when(command({ type: 'RequestRide', data: request('r1') }))
      .then([{ type: 'RideRequested', data: request('r1') }, ...assignment('r1', 'a')]);
  });

  it('lets a ride wait when no driver is in range', () => {
    dispatch.given([...online('beyond', north(10.5))]).when(command({ type: 'RequestRide', data: request('r1') }))
      .then([{ type: 'RideRequested', data: request('r1') }]);
  });

  it('never gives one driver two rides: the second waits, and gets the next driver who comes online in range', () => {
    const first = [...online('d1', north(1)), requested('r1'), ...assigned('r1', 'd1')];
    dispatch.given(first).when(command({ type: 'RequestRide', data: request('r2') })).then([{ type: 'RideRequested', data: request('r2') }]);
    dispatch
      .given([...first, requested('r2')])
      .when(sent({ type: 'GoOnline', data: { driverId: 'd2', location: north(5) } }))
      .then([
        { type: 'DriverWentOnline', data: { driverId: 'd2' } },
        { type: 'DriverMoved', data: { driverId: 'd2', location: north(5), at: SENT_AT } },
        ...assignment('r2', 'd2'),
      ]);
  });

  it('never dispatches an offline driver or one on a ride', () => {
    dispatch
      .given([...online('gone', north(0.5)), event({ type: 'DriverWentOffline', data: { driverId: 'gone' } }),
        ...online('busy', north(0.5)), requested('r0'), ...assigned('r0', 'busy')])
      .when(command({ type: 'RequestRide', data: request('r1') }))
      .then([{ type: 'RideRequested', data: request('r1') }]);
  });

  it('gives a waiting ride to a driver who moves into range, oldest waiting ride first', () => {
    dispatch
      .given([...online('d1', north(20)), requested('newer', PICKUP, '2026-11-27T10:00:05.000Z'), requested('older', PICKUP, REQUESTED_AT)])
      .when(sent({ type: 'UpdateDriverLocation', data: { driverId: 'd1', location: north(9) } }))
      .then([{ type: 'DriverMoved', data: { driverId: 'd1', location: north(9), at: SENT_AT } }, ...assignment('older', 'd1')]);
  });

  it('frees the driver when the ride completes, who then takes the oldest waiting ride in range', () => {
    const history = [...online('d1', north(1)), requested('r1'), ...assigned('r1', 'd1'),
      event({ type: 'DriverArrived', data: { rideId: 'r1', driverId: 'd1', location: north(0.04) } }), event({ type: 'RideStarted', data: { rideId: 'r1', driverId: 'd1' } }),
      requested('r2', PICKUP, '2026-11-27T10:00:01.000Z')];
    dispatch.given(history).when(command({ type: 'CompleteRide', data: { rideId: 'r1' } })).then([
      { type: 'RideCompleted', data: { rideId: 'r1', driverId: 'd1' } },
      { type: 'DriverStatusChanged', data: { driverId: 'd1', status: 'AVAILABLE', rideId: null } },
      ...assignment('r2', 'd1'),
    ]);
  });

  it('frees the driver of a cancelled ride', () => {
    dispatch.given([...online('d1', north(1)), requested('r1'), ...assigned('r1', 'd1')])
      .when(command({ type: 'CancelRide', data: { rideId: 'r1' } }))
      .then([
        { type: 'RideCancelled', data: { rideId: 'r1', driverId: 'd1', reason: 'rider' } },
        { type: 'DriverStatusChanged', data: { driverId: 'd1', status: 'AVAILABLE', rideId: null } },
      ]);
  });

  it('lets a driver act only on its own assignment, and a rider cancel only its own ride (the actor in the envelope)', () => {
    const history = [...online('d1', north(1)), requested('r1'), ...assigned('r1', 'd1')];
    const as = (type: 'CancelRide' | 'StartRide', sub: string, roles: string[]) => ridesContract.command({ type, data: { rideId: 'r1' } }, { actor: { sub, roles } });
    dispatch.given(history).when(as('CancelRide', 'd2', ['driver'])).thenRejects('NOT_FOUND', /no ride with id "r1"/);
    dispatch.given(history).when(as('CancelRide', 'rider-other', ['rider'])).thenRejects('NOT_FOUND', /no ride with id "r1"/);
    dispatch.given(history).when(as('StartRide', 'rider-r1', ['rider'])).thenRejects('NOT_FOUND', /no ride with id "r1"/);
    dispatch.given(history).when(as('StartRide', 'd1', ['driver'])).thenRejects('FAILED_PRECONDITION', /once its driver has arrived/);
    for (const [sub, roles] of [['rider-r1', ['rider']], ['d1', ['driver']], ['ops', ['admin']]] as const) {
      dispatch.given(history).when(as('CancelRide', sub, [...roles])).then([
        { type: 'RideCancelled', data: { rideId: 'r1', driverId: 'd1', reason: 'rider' } },
        { type: 'DriverStatusChanged', data: { driverId: 'd1', status: 'AVAILABLE', rideId: null } },
      ]);
    }
  });

  it('takes any string as an id, such as constructor or __proto__', () => {
    dispatch
      .given([...online('constructor', north(1)), ...online('__proto__', north(2))])
      .when(command({ type: 'RequestRide', data: request('toString') }))
      .then([{ type: 'RideRequested', data: request('toString') }, ...assignment('toString', 'constructor')]);
  });
});

describe('dispatch: arrival and lifecycle', () => {
  const assignedRide = [...online('d1', north(2)), requested('r1'), ...assigned('r1', 'd1')];

  it('detects arrival from the location stream: within 50 m of the pickup', () => {
    dispatch.given(assignedRide).when(sent({ type: 'UpdateDriverLocation', data: { driverId: 'd1', location: north(0.06) } }))
      .then([{ type: 'DriverMoved', data: { driverId: 'd1', location: north(0.06), at: SENT_AT } }]);
    dispatch.given(assignedRide).when(sent({ type: 'UpdateDriverLocation', data: { driverId: 'd1', location: north(0.04) } }))
      .then([
        { type: 'DriverMoved', data: { driverId: 'd1', location: north(0.04), at: SENT_AT } },
        { type: 'DriverArrived', data: { rideId: 'r1', driverId: 'd1', location: north(0.04), at: SENT_AT } },
      ]);
  });

  it('starts an arrived ride', () => {
    dispatch.given([...assignedRide, event({ type: 'DriverArrived', data: { rideId: 'r1', driverId: 'd1', location: north(0.04) } })])
      .when(command({ type: 'StartRide', data: { rideId: 'r1' } }))
      .then([{ type: 'RideStarted', data: { rideId: 'r1', driverId: 'd1' } }]);
  });

  it('refuses an illegal transition with FAILED_PRECONDITION carrying the current state', () => {
    const start = refusal(assignedRide, command({ type: 'StartRide', data: { rideId: 'r1' } }));
    expect(start).toMatchObject({ code: 'FAILED_PRECONDITION', details: { state: 'DRIVER_ASSIGNED' } });
    const complete = refusal(assignedRide, command({ type: 'CompleteRide', data: { rideId: 'r1' } }));
    expect(complete).toMatchObject({ code: 'FAILED_PRECONDITION', details: { state: 'DRIVER_ASSIGNED' } });
    const cancelled = [...assignedRide, event({ type: 'RideCancelled', data: { rideId: 'r1', driverId: 'd1', reason: 'rider' } })];
    expect(refusal(cancelled, command({ type: 'CancelRide', data: { rideId: 'r1' } }))).toMatchObject({ code: 'FAILED_PRECONDITION', details: { state: 'CANCELLED' } });
  });

  it('answers NOT_FOUND for an unknown ride', () => {
    for (const type of ['StartRide', 'CompleteRide', 'CancelRide'] as const) {
      dispatch.given([]).when(command({ type, data: { rideId: 'nope' } })).thenRejects('NOT_FOUND', /no ride/);
    }
  });

  it('refuses a location from an offline or unknown driver', () => {
    expect(refusal([], command({ type: 'UpdateDriverLocation', data: { driverId: 'd9', location: PICKUP } })))
      .toMatchObject({ code: 'FAILED_PRECONDITION', details: { state: 'OFFLINE' } });
    const gone = [...online('d1', PICKUP), event({ type: 'DriverWentOffline', data: { driverId: 'd1' } })];
    dispatch.given(gone).when(command({ type: 'UpdateDriverLocation', data: { driverId: 'd1', location: PICKUP } })).thenRejects('FAILED_PRECONDITION', /offline/);
  });

  it('refuses going offline during a ride', () => {
    expect(refusal(assignedRide, command({ type: 'GoOffline', data: { driverId: 'd1' } }))).toMatchObject({ code: 'FAILED_PRECONDITION', details: { state: 'ON_RIDE' } });
  });

  it('is idempotent on the ride id, and refuses the id for another trip', () => {
    dispatch.given([requested('r1')]).when(command({ type: 'RequestRide', data: { ...request('r1'), requestedAt: '2026-11-27T11:00:00.000Z' } })).then([]);
    dispatch.given([requested('r1')]).when(command({ type: 'RequestRide', data: { ...request('r1'), dropoff: PICKUP } })).thenRejects('RIDE_ID_CONFLICT');
  });
});

describe('dispatch: the clock', () => {
  it('cancels a ride still waiting at its expiry (timeout), and only then', () => {
    dispatch.given([requested('r1')]).when(tick('2026-11-27T10:01:59.999Z')).then([]);
    dispatch.given([requested('r1')]).when(tick(EXPIRES_AT))
      .then([{ type: 'RideCancelled', data: { rideId: 'r1', driverId: null, reason: 'timeout' } }]);
  });

  it('never cancels an assigned ride on timeout', () => {
    dispatch.given([...online('d1', north(1)), requested('r1'), ...assigned('r1', 'd1')]).when(tick('2026-11-27T11:00:00.000Z')).then([]);
  });
});

describe('dispatch: state', () => {
  it('ends in the same state however a replay interleaves topics and partitions', () => {
    // One history as decided live, then replayed topic by topic and with rides' partitions reversed.
    const history = [
      ...online('d1', north(1)), requested('r1'), ...assigned('r1', 'd1'),
      event({ type: 'DriverArrived', data: { rideId: 'r1', driverId: 'd1', location: north(0.04) } }), event({ type: 'RideStarted', data: { rideId: 'r1', driverId: 'd1' } }),
      requested('r2', PICKUP, '2026-11-27T10:00:01.000Z'),
      event({ type: 'RideCompleted', data: { rideId: 'r1', driverId: 'd1' } }),
      event({ type: 'DriverStatusChanged', data: { driverId: 'd1', status: 'AVAILABLE', rideId: null } }),
      ...assigned('r2', 'd1'),
      event({ type: 'DriverMoved', data: { driverId: 'd1', location: north(0.5) } }),
      requested('r3', PICKUP, '2026-11-27T10:00:02.000Z'),
    ];
    const summary = (city: City) => ({
      drivers: Object.fromEntries([...entries(city.drivers)].sort()),
      rides: Object.fromEntries([...entries(city.rides)].sort()),
      waiting: city.waiting,
    });
    const live = summary(history.reduce(evolve, initialCity()));
    const byTopic = ['rides.events', 'driver-locations', 'drivers.events'].flatMap((topic) =>
      history.filter((e) => ridesContract.topicOf(e) === topic).sort((a, b) => (a.type.startsWith('Ride') || a.type === 'DriverAssigned' ? b.aggregateId.localeCompare(a.aggregateId) : 0)));
    const reversedRides = [...byTopic].sort((a, b) => (ridesContract.topicOf(a) === 'rides.events' && ridesContract.topicOf(b) === 'rides.events' ? b.aggregateId.localeCompare(a.aggregateId) : 0));
    expect(summary(byTopic.reduce(evolve, initialCity()))).toEqual(live);
    expect(summary(reversedRides.reduce(evolve, initialCity()))).toEqual(live);
    expect(get(history.reduce(evolve, initialCity()).drivers, 'd1')).toMatchObject({ status: 'ON_RIDE', rideId: 'r2' });
  });

  it('costs per location in proportion to what changed: 1,000 drivers moving once a second', () => {
    const DRIVERS = 1_000;
    const SECONDS = 20;
    let city = initialCity();
    for (let i = 0; i < DRIVERS; i += 1) for (const e of online(`d${i}`, north((i % 50) / 10))) city = evolve(city, e);
    city = evolve(city, requested('waiting', { lat: 0, lng: 0 })); // one ride waits, out of everyone's range
    const inputs = Array.from({ length: DRIVERS * SECONDS }, (_, n) =>
      command({ type: 'UpdateDriverLocation', data: { driverId: `d${n % DRIVERS}`, location: north(((n + Math.floor(n / DRIVERS)) % 50) / 10) } }));
    const started = performance.now();
    for (const input of inputs) for (const e of decide(input, city, new Date(0))) city = evolve(city, e);
    const micros = ((performance.now() - started) * 1000) / (DRIVERS * SECONDS);
    console.log(`dispatch: decide + evolve of one location, ${DRIVERS} drivers online: ${micros.toFixed(1)} µs`);
    expect(city.drivers.size).toBe(DRIVERS);
    expect(micros).toBeLessThan(500); // a second of 1,000 locations in well under a second of CPU
  });
});

describe('dispatch: reported positions (updateDriverLocations), last write wins by the time taken', () => {
  const T1 = '2026-11-27T10:00:01.000Z';
  const T2 = '2026-11-27T10:00:02.000Z';
  const reported = (driverId: string, location: Location, at: string) => driverLocationReported(driverId, location, new Date(at)).envelope as Extract<Envelope, { type: 'DriverLocationReported' }>;
  const held = (city: City, driverId: string) => {
    const { location, locationAt } = get(city.drivers, driverId)!;
    return { location, locationAt };
  };

  it('folds the newest position whatever order two arrive in, and the same one twice as once', () => {
    const newer = reported('d1', north(1), T2);
    const older = reported('d1', north(2), T1);
    const base = online('d1', north(5)).reduce(evolve, initialCity());
    expect(held([newer, older].reduce(evolve, base), 'd1')).toEqual({ location: north(1), locationAt: T2 });
    expect(held([older, newer].reduce(evolve, base), 'd1')).toEqual({ location: north(1), locationAt: T2 });
    expect(held([newer, older, newer].reduce(evolve, base), 'd1')).toEqual({ location: north(1), locationAt: T2 });
    // The dispatcher's own positions take part alike: a command's time against a report's.
    const command = event({ type: 'DriverMoved', data: { driverId: 'd1', location: north(3), at: T1 } });
    expect(held([newer, command].reduce(evolve, base), 'd1')).toEqual({ location: north(1), locationAt: T2 });
    expect(held([command, newer].reduce(evolve, base), 'd1')).toEqual({ location: north(1), locationAt: T2 });
  });

  it('reads a position event from before positions had a time as taken when it was decided', () => {
    const old = event({ type: 'DriverMoved', data: { driverId: 'd1', location: north(3) } }, new Date(T1));
    const city = [reported('d1', north(1), T2), old].reduce(evolve, initialCity());
    expect(held(city, 'd1')).toEqual({ location: north(1), locationAt: T2 });
  });

  it('detects arrival from a reported position, with the time it was taken', () => {
    const assignedRide = [...online('d1', north(2)), requested('r1'), ...assigned('r1', 'd1')];
    dispatch.given(assignedRide).when(reported('d1', north(1), T1)).then([]);
    dispatch.given(assignedRide).when(reported('d1', north(0.04), T2))
      .then([{ type: 'DriverArrived', data: { rideId: 'r1', driverId: 'd1', location: north(0.04), at: T2 } }]);
  });

  it('gives a waiting ride to a driver whose reported position brings it in range', () => {
    dispatch.given([...online('d1', north(20)), requested('r1')]).when(reported('d1', north(9), T1)).then(assignment('r1', 'd1'));
  });

  it('decides nothing from a position that arrives after a newer one, and says the newest again for compaction', () => {
    const assignedRide = [...online('d1', north(2)), requested('r1'), ...assigned('r1', 'd1')];
    // Older, and at the pickup: no arrival from a position the driver has already left.
    dispatch.given([...assignedRide, reported('d1', north(1), T2)]).when(reported('d1', north(0.01), T1))
      .then([{ type: 'DriverMoved', data: { driverId: 'd1', location: north(1), at: T2 } }]);
    // The other order: the newer one decides.
    dispatch.given([...assignedRide, reported('d1', north(1), T1)]).when(reported('d1', north(0.01), T2))
      .then([{ type: 'DriverArrived', data: { rideId: 'r1', driverId: 'd1', location: north(0.01), at: T2 } }]);
    // A command's position older than a reported one changes nothing either.
    dispatch.given([...assignedRide, reported('d1', north(1), '2026-11-27T10:01:00.000Z')])
      .when(sent({ type: 'UpdateDriverLocation', data: { driverId: 'd1', location: north(0.01) } })).then([]);
  });

  it('decides a redelivered position once: its consequences are in the state it is decided on again', () => {
    const history = [...online('d1', north(20)), requested('r1')];
    const position = reported('d1', north(0.04), T1);
    const decided = decide(position, [...history, position].reduce(evolve, initialCity()), new Date(0));
    expect(decided).toEqual([...assignment('r1', 'd1'), { type: 'DriverArrived', data: { rideId: 'r1', driverId: 'd1', location: north(0.04), at: T1 } }]);
    dispatch.given([...history, position, ...decided.map((e) => event(e))]).when(position).then([]);
  });

  it("decides nothing from an offline driver's position, and keeps it", () => {
    const gone = [...online('d1', north(20)), event({ type: 'DriverWentOffline', data: { driverId: 'd1' } }), requested('r1')];
    dispatch.given(gone).when(reported('d1', PICKUP, T1)).then([]);
    dispatch.given([requested('r1')]).when(reported('stranger', PICKUP, T1)).then([]);
    expect(held([...gone, reported('d1', PICKUP, T1)].reduce(evolve, initialCity()), 'd1')).toEqual({ location: PICKUP, locationAt: T1 });
  });
});

describe('dispatch: regions', () => {
  it('keeps each region its own aggregate, and stamps what it decides with the region of its cause', () => {
    const hamburg = { lat: 53.55, lng: 10 };
    const inHamburg = { ...command({ type: 'GoOnline', data: { driverId: 'h1', location: hamburg, region: 'hamburg' } }), occurredAt: SENT_AT } as Envelope;
    const service = specify(dispatchService);
    service.given([]).when(inHamburg).then([
      { type: 'DriverWentOnline', data: { driverId: 'h1', region: 'hamburg' } },
      { type: 'DriverMoved', data: { driverId: 'h1', location: hamburg, at: SENT_AT, region: 'hamburg' } },
    ]);
    // A driver online in Berlin is nobody to Hamburg's rides.
    const ride = { ...request('r1', hamburg), region: 'hamburg' };
    service.given([...online('b1', north(1))]).when(command({ type: 'RequestRide', data: ride }))
      .then([{ type: 'RideRequested', data: ride }]);
    expect(dispatchService.stateKey(inHamburg)).not.toBe(dispatchService.stateKey(command({ type: 'GoOffline', data: { driverId: 'b1' } })));
  });

  it('reads a message written before regions (none named) as the legacy region, Berlin', () => {
    const old = command({ type: 'GoOffline', data: { driverId: 'b1' } });
    const berlin = command({ type: 'GoOffline', data: { driverId: 'b1', region: 'berlin' } });
    expect(dispatchService.stateKey(old)).toBe(dispatchService.stateKey(berlin));
    expect(dispatchService.stateKey(tick('2026-11-27T10:00:00.000Z'))).toBe(dispatchService.stateKey(berlin));
  });
});
