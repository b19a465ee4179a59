/**
 * The leaderboard page's pure parts, shared by the page (./page.ts) and its tests: the GraphQL operations it runs
 * and which rows to highlight when a new list arrives.
 */

/** What the page shows of a movie; the fields of the API's `Movie`. */
export interface MovieView {
  id: string;
  title: string;
  releaseYear: number | null;
  country: string | null;
  genres: string[];
  rating: { count: number; average: number } | null;
}

const MOVIE_FIELDS = 'id title releaseYear country genres rating { count average }';

/** The live leaderboard: the current list at once, then each new one. */
export const TOP_RATED_CHANGED = `subscription TopRated($limit: Int, $minRatings: Int) {
  topRatedMoviesChanged(limit: $limit, minRatings: $minRatings) { ${MOVIE_FIELDS} }
}`;

/** One movie's rating as it changes; the page follows each movie its search shows. */
export const MOVIE_RATING_CHANGED = `subscription MovieRatingChanged($movieId: ID!) {
  movieRatingChanged(movieId: $movieId) { ${MOVIE_FIELDS} }
}`;

export const SEARCH_MOVIES = `query SearchMovies($search: String, $first: Int) {
  movies(search: $search, first: $first) { edges { cursor node { ${MOVIE_FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;

export const RATE_MOVIE = `mutation RateMovie($movieId: ID!, $rating: Float!) {
  rateMovie(movieId: $movieId, rating: $rating) { ${MOVIE_FIELDS} }
}`;

export const LEADERBOARD_SIZE = 10;
export const MIN_RATINGS = 1;

/**
 * The ids whose position differs between two lists: moved up or down, or new to the list. The very first list
 * highlights nothing (there is no "before" to compare with).
 */
export function movedRows(previous: readonly string[] | undefined, next: readonly string[]): Set<string> {
  if (!previous) return new Set();
  const before = new Map(previous.map((id, index) => [id, index]));
  return new Set(next.filter((id, index) => before.get(id) !== index));
}

/** An average as the page shows it: two decimals. */
export function formatAverage(average: number): string {
  return average.toFixed(2);
}
