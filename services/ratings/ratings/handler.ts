/** Wires the ratings decider: raw ratings and the catalog in, rated movies out (which, with the catalog, are its state). */
import type { ServiceDefinition } from '../../shared/service.ts';
import { ratingsContract, TOPICS, type RatingsContract } from '../contract.ts';
import { decide } from './decide.ts';
import { evolve, initialRatedMovie, type RatedMovie } from './evolve.ts';

export const ratingsService: ServiceDefinition<RatedMovie, RatingsContract> = {
  ...ratingsContract.service('ratings'),
  contract: ratingsContract,
  stateTopics: [TOPICS.movies, TOPICS.ratedMovies],
  stateKey: (message) => message.data.movieId,
  initialState: initialRatedMovie,
  evolve,
  decide,
};
