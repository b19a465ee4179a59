/**
 * Wires the dispatcher: driver and ride commands, reported positions and the clock in; its own events and the
 * reported positions (the whole city) are its state.
 */
import type { ServiceDefinition } from '../../shared/service.ts';
import { CITY, ridesContract, TOPICS, type RidesContract } from '../contract.ts';
import { decide } from './decide.ts';
import { evolve, initialCity, type City } from './evolve.ts';

export const dispatchService: ServiceDefinition<City, RidesContract> = {
  ...ridesContract.service('dispatch'),
  contract: ridesContract,
  stateTopics: [TOPICS.driverEvents, TOPICS.driverLocations, TOPICS.rideEvents],
  // One aggregate: every driver and ride is decided against the same state, one message after another.
  stateKey: () => CITY,
  // So one instance decides the city and any other waits as a standby, rather than forwarding every input to it.
  instances: 'single',
  initialState: initialCity,
  evolve,
  decide,
};
