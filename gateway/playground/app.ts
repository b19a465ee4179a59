/**
 * The playground page's script, bundled for the browser by ./index.ts (no JSX: the project's tsconfig is
 * for Node). Every asset is served by the gateway itself, so the page works without internet access.
 */
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';

// The project's tsconfig has no DOM library (it would leak browser globals into the server code);
// these are the few browser globals this file uses.
declare const document: { getElementById(id: string): Element | null };
declare const location: { href: string };
declare class Worker {
  constructor(url: URL, options: { type: 'module'; name: string });
}

// Monaco runs its language services in web workers; index.ts bundles each next to this script.
(globalThis as { MonacoEnvironment?: unknown }).MonacoEnvironment = {
  getWorker(_workerId: string, label: string) {
    const name = label === 'graphql' || label === 'json' ? `${label}.worker` : 'editor.worker';
    return new Worker(new URL(`./${name}.js`, import.meta.url), { type: 'module', name });
  },
};

// The endpoint that served this page: queries over HTTP, subscriptions over graphql-ws on the same path.
const url = new URL('/graphql', location.href);
const fetcher = createGraphiQLFetcher({
  url: url.href,
  subscriptionUrl: url.href.replace(/^http/, 'ws'),
});

// Each domain brings its own examples; the gateway lists them all.
const examples = await fetch(new URL('/graphiql/examples.json', location.href)).then((r) => r.json());

createRoot(document.getElementById('graphiql')!).render(
  createElement(GraphiQL, {
    fetcher,
    defaultTabs: examples,
    // Open the variables pane: two of the examples take variables.
    defaultEditorToolsVisibility: 'variables',
  }),
);
