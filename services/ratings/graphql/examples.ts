/** The operations the playground opens with for the ratings domain. */
export const EXAMPLE_TABS = [
  {
    query: `# Rates Lethal Weapon; the movie returned already counts this rating.
mutation Rate {
  rateMovie(movieId: "362", rating: 9.5) {
    title
    releaseYear
    rating { count average }
  }
}
`,
  },
  {
    query: `# The leaderboard now, then each time it changes (rate a movie in another tab).
subscription Leaderboard {
  topRatedMoviesChanged(limit: 10) {
    id
    title
    rating { count average }
  }
}
`,
  },
];
