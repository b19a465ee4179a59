/**
 * The web app at /app: the movie ratings leaderboard with a search and a rate control, and the live rides map at
 * /app#map (./map.ts), bundled from ./page.ts with
 * esbuild into .data/app/ and served by the gateway from memory (../bundle.ts). No CDN: the page, its script and
 * its styles come from this server, and it talks only to this gateway's /graphql (HTTP and graphql-ws).
 *
 * Public surface: `buildApp` (at gateway startup) and `serveApp` (from the router, for /app and /app/*).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import type { Logger } from '../../services/shared/log.ts';
import { buildPageBundle, servePageBundle, type PageBundle } from '../bundle.ts';

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Top rated movies</title>
  <link rel="icon" href="data:,">
  <style>
    :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
    body { margin: 0; }
    main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
    header { display: flex; align-items: baseline; gap: 1rem; }
    h1 { margin: 0 0 1rem; font-size: 1.6rem; }
    h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
    .status { font-size: .8rem; padding: .1rem .5rem; border-radius: 1rem; background: #e4e7ec; }
    .status.live { background: #d3f2dc; color: #17602d; }
    .status.reconnecting { background: #fde7c2; color: #7a4a00; }
    table { width: 100%; border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px #0002; }
    th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #eceef2; }
    th { font-size: .8rem; text-transform: uppercase; color: #5b6473; }
    td.rank, td.average, td.count, td.year { font-variant-numeric: tabular-nums; }
    td.average { font-weight: 600; }
    tr.moved { animation: moved 2.5s ease-out; }
    @keyframes moved { from { background: #fff1a8; } to { background: transparent; } }
    .rate { display: inline-flex; gap: .3rem; align-items: center; }
    .rate input { width: 4.2rem; }
    .search > input { width: 100%; box-sizing: border-box; padding: .5rem .7rem; font-size: 1rem; }
    .results { list-style: none; padding: 0; }
    .results li { display: grid; grid-template-columns: 1fr 3.5rem 12rem 9rem auto; gap: .6rem; align-items: center;
      background: #fff; padding: .45rem .6rem; border-bottom: 1px solid #eceef2; }
    .meta { color: #5b6473; font-size: .85rem; }
    .error { color: #a4161a; }
    .ok { color: #17602d; }
    nav.views { display: flex; gap: 1rem; max-width: 60rem; margin: 0 auto; padding: .8rem 1.5rem 0; font-size: .9rem; }
    nav.views a { color: #3b4a66; text-decoration: none; }
    nav.views a[aria-current="page"] { font-weight: 600; color: #1d2330; border-bottom: 2px solid #1d2330; }
    main.map { max-width: 80rem; }
    .counts { display: flex; gap: 1.2rem; font-size: .9rem; margin: 0 0 .6rem; }
    .regions { display: flex; gap: .4rem; margin: 0 0 .6rem; }
    .region { font: inherit; font-size: .85rem; padding: .15rem .7rem; border: 1px solid #c5cad3; border-radius: 1rem; background: #fff; cursor: pointer; }
    .region.selected { background: #1f3b73; border-color: #1f3b73; color: #fff; }
    .legend::before { content: ""; display: inline-block; width: .7rem; height: .7rem; border-radius: 50%; margin-right: .35rem; vertical-align: -1px; }
    .legend.available::before { background: #1f9d55; }
    .legend.on-ride::before { background: #d9480f; }
    .legend.pickup::before { background: #1c64f2; }
    svg.city { display: block; width: 100%; height: auto; max-height: 80vh; }
    svg.city .box { fill: #eef2ea; stroke: #8a94a6; stroke-width: 2; }
    svg.city .grid { stroke: #d6dbe3; stroke-width: 1; }
    svg.city .grid-label { font-size: 10px; fill: #8a94a6; }
    svg.city .driver { stroke: #fff; stroke-width: 1; transition: cx .9s linear, cy .9s linear; }
    svg.city .driver.available { fill: #1f9d55; }
    svg.city .driver.on-ride { fill: #d9480f; }
    svg.city .trip { stroke: #1c64f2; stroke-width: 1.5; stroke-dasharray: 5 4; }
    svg.city .approach { stroke: #d9480f; stroke-width: 1; stroke-dasharray: 2 3; }
    svg.city .pickup { fill: #1c64f2; stroke: #fff; stroke-width: 1.5; }
    svg.city .dropoff { fill: #fff; stroke: #1c64f2; stroke-width: 2; }
  </style>
</head>
<body>
  <div id="app">Loading…</div>
  <script type="module" src="/app/app.js"></script>
</body>
</html>
`;

/** What `serveApp` serves: the page and its script, or why there are none. */
export type App = PageBundle;

/**
 * Bundles the app unless .data/app/ is newer than its sources, then loads it into memory. Never throws: a failed
 * build leaves /app answering 503 with the reason, and the API unaffected. Gateways in one process share one build.
 */
export function buildApp(log: Logger): Promise<App> {
  return buildPageBundle(
    {
      name: 'app',
      title: 'the movie ratings app',
      mount: '/app',
      page: PAGE,
      entryPoints: { app: resolve(import.meta.dirname, 'page.ts') },
      sources: [import.meta.dirname],
    },
    log,
  );
}

/** Answers GET /app and /app/<asset>. */
export function serveApp(app: App, req: IncomingMessage, res: ServerResponse, pathname: string) {
  servePageBundle(app, req, res, pathname);
}
