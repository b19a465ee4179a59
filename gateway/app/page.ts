/**
 * The /app page's script, bundled for the browser by ./index.ts (React without JSX: the project's tsconfig is
 * for Node). Two views: a live leaderboard over graphql-ws with a search and a rate control per movie (/app), and
 * the live rides map (/app#map, ./map.ts). Both talk to the gateway that served the page only, so nothing leaves
 * its origin. The leaderboard is public; rating runs as a customer and the map (every driver and open ride) as an
 * admin, with the tokens a development gateway hands its own pages (none elsewhere: the page then says so).
 */
import { createClient } from 'graphql-ws';
import { createElement as h, Fragment, useEffect, useRef, useState, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import {
  formatAverage,
  LEADERBOARD_SIZE,
  MIN_RATINGS,
  MOVIE_RATING_CHANGED,
  movedRows,
  RATE_MOVIE,
  SEARCH_MOVIES,
  TOP_RATED_CHANGED,
  type MovieView,
} from './leaderboard.ts';
import { CityMap } from './map.ts';

// The project's tsconfig has no DOM library (it would leak browser globals into the server code);
// these are the few browser globals this file uses.
declare const document: { getElementById(id: string): Element | null; title: string };
declare const location: { href: string; hash: string };
declare const window: {
  addEventListener(type: 'hashchange', listener: () => void): void;
  removeEventListener(type: 'hashchange', listener: () => void): void;
};
/** An <input>'s text (React's own DOM types are empty shells without the DOM library). */
const valueOf = (target: unknown) => (target as { value: string }).value;

// The endpoint that served this page: queries over HTTP, subscriptions over graphql-ws on the same path.
const endpoint = new URL('/graphql', location.href).href;

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

// Tokens from a development gateway (the generated secret); a production one answers 404.
const tokens: { admin: string; customer: string } | undefined = await fetch(new URL('/auth/dev-tokens', location.href))
  .then((r) => (r.ok ? r.json() : undefined), () => undefined);

/** Queries and mutations (rateMovie) as the development customer, or anonymously. */
async function post<T>(query: string, variables: Record<string, unknown>): Promise<GraphQLResponse<T>> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(tokens && { authorization: `Bearer ${tokens.customer}` }) },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<T>;
}

// One socket for the page; it reconnects on its own, and the leaderboard subscription starts again with the
// current list, so the page catches up after any gap.
const client = createClient({ url: endpoint.replace(/^http/, 'ws'), retryAttempts: Infinity, lazy: false });
// The map's own socket, as the development admin; opened when the map is first shown.
const mapClient = tokens && createClient({
  url: endpoint.replace(/^http/, 'ws'), retryAttempts: Infinity, lazy: true,
  connectionParams: { authorization: `Bearer ${tokens.admin}` },
});

type Status = 'connecting' | 'live' | 'reconnecting';

function App() {
  const [movies, setMovies] = useState<MovieView[] | undefined>();
  const [moved, setMoved] = useState<Set<string>>(new Set());
  const [status, setStatus] = useState<Status>('connecting');
  const [error, setError] = useState<string | undefined>();
  const previous = useRef<string[] | undefined>(undefined);

  useEffect(() => {
    const offConnected = client.on('connected', () => setStatus('live'));
    const offClosed = client.on('closed', () => setStatus('reconnecting'));
    const stop = client.subscribe<{ topRatedMoviesChanged: MovieView[] }>(
      { query: TOP_RATED_CHANGED, variables: { limit: LEADERBOARD_SIZE, minRatings: MIN_RATINGS } },
      {
        next: ({ data, errors }) => {
          if (errors?.length) return setError(errors.map((e) => e.message).join('; '));
          if (!data) return;
          const ids = data.topRatedMoviesChanged.map((m) => m.id);
          setMoved(movedRows(previous.current, ids));
          previous.current = ids;
          setMovies(data.topRatedMoviesChanged);
          setError(undefined);
        },
        error: (e) => setError(e instanceof Error ? e.message : 'the leaderboard subscription failed; reload the page'),
        complete: () => {},
      },
    );
    return () => {
      stop();
      offConnected();
      offClosed();
    };
  }, []);

  return h(
    'main',
    null,
    h('header', null, h('h1', null, 'Top rated movies'), h('span', { className: `status ${status}`, role: 'status' }, status)),
    error ? h('p', { className: 'error', role: 'alert' }, error) : null,
    h(Leaderboard, { movies, moved }),
    h(Search, null),
  );
}

function Leaderboard({ movies, moved }: { movies: MovieView[] | undefined; moved: Set<string> }) {
  if (!movies) return h('p', { className: 'loading' }, 'Loading the leaderboard…');
  if (movies.length === 0) return h('p', { className: 'empty' }, 'No rated movies yet: search for one below and rate it.');
  return h(
    'table',
    { className: 'leaderboard', 'aria-label': 'Leaderboard' },
    h('thead', null, h('tr', null, ...['#', 'Title', 'Year', 'Average', 'Ratings', 'Rate'].map((label) => h('th', { key: label }, label)))),
    h(
      'tbody',
      null,
      movies.map((movie, index) =>
        h(
          'tr',
          // Keyed by position and id: a moved row is a new element, so its highlight animation plays again.
          { key: `${index}:${movie.id}`, 'data-movie-id': movie.id, className: moved.has(movie.id) ? 'moved' : undefined },
          h('td', { className: 'rank' }, index + 1),
          h('td', { className: 'title' }, movie.title),
          h('td', { className: 'year' }, movie.releaseYear ?? '—'),
          h('td', { className: 'average' }, movie.rating ? formatAverage(movie.rating.average) : '—'),
          h('td', { className: 'count' }, movie.rating?.count ?? 0),
          h('td', null, h(RateControl, { movie })),
        ),
      ),
    ),
  );
}

function Search() {
  const [search, setSearch] = useState('');
  const [results, setResults] = useState<MovieView[] | undefined>();
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    const text = search.trim();
    if (!text) return setResults(undefined);
    let current = true;
    // Waits for a pause in typing; an answer for an older text is dropped.
    const timer = setTimeout(async () => {
      try {
        const result = await post<{ movies: { edges: { node: MovieView }[] } }>(SEARCH_MOVIES, { search: text, first: 10 });
        if (!current) return;
        setError(result.errors?.map((e) => e.message).join('; '));
        setResults(result.data?.movies.edges.map((e) => e.node) ?? []);
      } catch (e) {
        if (current) setError(`the search failed: ${(e as Error).message}`);
      }
    }, 250);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [search]);

  const replace = (movie: MovieView) => setResults((list) => list?.map((m) => (m.id === movie.id ? movie : m)));

  // Each movie shown follows its own rating live (at most 10 subscriptions on the page's one socket).
  const shownIds = results?.map((m) => m.id).join(',') ?? '';
  useEffect(() => {
    const stops = shownIds
      .split(',')
      .filter(Boolean)
      .map((movieId) =>
        client.subscribe<{ movieRatingChanged: MovieView }>(
          { query: MOVIE_RATING_CHANGED, variables: { movieId } },
          // A movie that cannot be followed (removed from the catalog) keeps what was last shown.
          { next: ({ data }) => data && replace(data.movieRatingChanged), error: () => {}, complete: () => {} },
        ),
      );
    return () => stops.forEach((stop) => stop());
  }, [shownIds]);
  return h(
    'section',
    { className: 'search' },
    h('h2', null, 'Find a movie to rate'),
    h('input', {
      type: 'search',
      placeholder: 'Search by title',
      'aria-label': 'Search movies',
      value: search,
      onChange: (e) => setSearch(valueOf(e.currentTarget)),
    }),
    error ? h('p', { className: 'error', role: 'alert' }, error) : null,
    results && results.length === 0 ? h('p', { className: 'empty' }, `No movie matches “${search.trim()}”.`) : null,
    results && results.length > 0
      ? h(
          'ul',
          { className: 'results', 'aria-label': 'Search results' },
          results.map((movie) =>
            h(
              'li',
              { key: movie.id, 'data-movie-id': movie.id },
              h('span', { className: 'title' }, movie.title),
              h('span', { className: 'year' }, movie.releaseYear ?? ''),
              h('span', { className: 'meta' }, [movie.country, ...movie.genres].filter(Boolean).join(' · ')),
              h('span', { className: 'average' }, ratingText(movie)),
              h(RateControl, { movie, onRated: replace }),
            ),
          ),
        )
      : null,
  );
}

function ratingText(movie: MovieView): ReactNode {
  if (!movie.rating) return 'not rated yet';
  const { count, average } = movie.rating;
  return `${formatAverage(average)} (${count} rating${count === 1 ? '' : 's'})`;
}

/** 0–10 in steps of 0.1, as the API accepts; the API's own refusal is shown as it is. */
function RateControl({ movie, onRated }: { movie: MovieView; onRated?: (movie: MovieView) => void }) {
  const [rating, setRating] = useState('8');
  const [state, setState] = useState<{ busy: boolean; message?: string; failed?: boolean }>({ busy: false });

  const rate = async () => {
    setState({ busy: true });
    try {
      const result = await post<{ rateMovie: MovieView }>(RATE_MOVIE, { movieId: movie.id, rating: Number(rating) });
      if (result.errors?.length || !result.data) {
        return setState({ busy: false, failed: true, message: result.errors?.map((e) => e.message).join('; ') ?? 'no answer' });
      }
      setState({ busy: false, message: 'rated' });
      onRated?.(result.data.rateMovie);
    } catch (e) {
      setState({ busy: false, failed: true, message: `not rated: ${(e as Error).message}` });
    }
  };

  return h(
    'form',
    {
      className: 'rate',
      // The API decides what a rating may be, and its refusal is shown next to the control.
      noValidate: true,
      onSubmit: (e) => {
        e.preventDefault();
        void rate();
      },
    },
    h('input', {
      type: 'number',
      min: 0,
      max: 10,
      step: 0.1,
      required: true,
      value: rating,
      'aria-label': `Rating for ${movie.title}`,
      onChange: (e) => {
        setRating(valueOf(e.currentTarget));
        setState({ busy: false });
      },
    }),
    h('button', { type: 'submit', disabled: state.busy, 'aria-label': `Rate ${movie.title}` }, 'Rate'),
    state.message ? h('span', { className: state.failed ? 'error' : 'ok', role: state.failed ? 'alert' : undefined }, state.message) : null,
  );
}

/**
 * The view by the URL's hash: the gateway serves one page at /app, so the map is /app#map and switching views
 * never reloads (the socket, and the subscriptions of the view left, are simply stopped and started).
 */
function Router() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  const map = hash === '#map';
  useEffect(() => {
    document.title = map ? 'Rides live' : 'Top rated movies';
  }, [map]);
  return h(
    Fragment,
    null,
    h(
      'nav',
      { className: 'views' },
      h('a', { href: '#', 'aria-current': map ? undefined : 'page' }, 'Top rated movies'),
      h('a', { href: '#map', 'aria-current': map ? 'page' : undefined }, 'Rides live map'),
    ),
    map
      ? (mapClient
        ? h(CityMap, { client: mapClient, endpoint })
        : h('main', { className: 'map' }, h('p', { className: 'error' }, 'The map shows every driver and ride: it needs an admin token, which only a development gateway (no JWT_SECRET) hands to this page.')))
      : h(App),
  );
}

createRoot(document.getElementById('app')!).render(h(Router));
