/**
 * The GraphiQL playground at /graphiql: a page and its assets, bundled from ./app.ts with esbuild into
 * .data/playground/ and served by the gateway from memory (../bundle.ts). No CDN: fonts, styles, scripts and
 * Monaco's workers all come from this server, so it works offline.
 *
 * Public surface: `buildPlayground` (at gateway startup) and `servePlayground` (from the router).
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
  <title>GraphiQL · orders gateway</title>
  <link rel="stylesheet" href="/graphiql/playground.css">
  <style>body { margin: 0; } #graphiql { height: 100dvh; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script type="module" src="/graphiql/playground.js"></script>
</body>
</html>
`;

/** What `servePlayground` serves: the assets by path, or why there are none. */
export type Playground = PageBundle;

/**
 * Bundles the playground unless .data/playground/ is newer than its sources, then loads it into memory.
 * Never throws: a failed build leaves /graphiql answering 503 with the reason, and the API unaffected.
 * Gateways in one process share one build.
 */
export function buildPlayground(log: Logger): Promise<Playground> {
  return buildPageBundle(
    {
      name: 'playground',
      title: 'the GraphiQL playground',
      mount: '/graphiql',
      page: PAGE,
      entryPoints: {
        playground: resolve(import.meta.dirname, 'app.ts'),
        // Monaco's workers, loaded by app.ts from next to the page's script.
        'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
        'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
        'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
      },
      // This folder's files (the locked dependency versions are always a source).
      sources: [import.meta.dirname],
      loader: { '.ttf': 'file' },
    },
    log,
  );
}

/** Answers GET /graphiql and /graphiql/<asset>. */
export function servePlayground(playground: Playground, req: IncomingMessage, res: ServerResponse, pathname: string) {
  servePageBundle(playground, req, res, pathname);
}
