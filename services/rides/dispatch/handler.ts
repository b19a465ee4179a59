/**
 * Wires the dispatcher: driver and ride commands, reported positions and the clock in; its own events and the
 * reported positions are its state, one aggregate per region (every driver and ride of it). Regions are spread over
 * the partitions (config.ts, `regionStateKey`), so instances share them, and a killed one's move to another.
 */
import type { ServiceDefinition } from '../../shared/service.ts';
import { regionStateKey } from '../config.ts';
import { regionOf, ridesContract, TOPICS, type DomainEvent, type Envelope, type RidesContract } from '../contract.ts';
import { decide } from './decide.ts';
import { evolve, initialCity, type City } from './evolve.ts';

export const dispatchService: ServiceDefinition<City, RidesContract> = {
  ...ridesContract.service('dispatch'),
  contract: ridesContract,
  stateTopics: [TOPICS.driverEvents, TOPICS.driverLocations, TOPICS.rideEvents],
  // Each message of a region is placed on its partition, but those written before regions were placed by driver or
  // ride, and a driver's positions keep its own key (compaction): restoring reads these topics whole.
  scatteredStateTopics: [TOPICS.driverEvents, TOPICS.driverLocations, TOPICS.rideEvents],
  // One aggregate per region: its drivers and rides are decided against one state, one message after another.
  stateKey: (message) => regionStateKey(regionOf(message.data)),
  initialState: initialCity,
  evolve,
  // `decide` knows one region's city; what it decides belongs to the region of its cause.
  decide: (input: Envelope, city: City, now: Date): DomainEvent[] => {
    const region = regionOf(input.data);
    return decide(input, city, now).map((event) => ({ ...event, data: { ...event.data, region } }) as DomainEvent);
  },
};
