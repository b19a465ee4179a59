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

/** The customer tab: its own orders only, whatever customerId it asks for; another's order reads as null. */
const AS_CUSTOMER = `# Runs as the customer alice (see the headers pane;
# the other tabs run as an admin). A customer sees only
# its own orders; addInventory answers FORBIDDEN.
query MyOrders {
  orders(first: 20) {
    edges { node { id product state } }
  }
  inventory { product available }
}
`;

// A development gateway (the generated secret) hands its own pages an admin and a customer token; any other
// answers 404, and the playground then runs anonymously until a token is put in the headers pane.
const tokens: { admin: string; customer: string } | undefined = await fetch(new URL('/auth/dev-tokens', location.href))
  .then((r) => (r.ok ? r.json() : undefined), () => undefined);
// One spelling: GraphiQL merges these with a tab's own headers, which override them (over graphql-ws too).
const asAdmin: Record<string, string> = tokens ? { Authorization: `Bearer ${tokens.admin}` } : {};

// The endpoint that served this page: queries over HTTP, subscriptions over graphql-ws on the same path.
const url = new URL('/graphql', location.href);
const fetcher = createGraphiQLFetcher({
  url: url.href,
  subscriptionUrl: url.href.replace(/^http/, 'ws'),
  // Tabs restored from an earlier visit have no headers of their own: they run as the admin.
  headers: asAdmin,
  wsConnectionParams: asAdmin,
});

// Each domain brings its own examples; the gateway lists them all, each with the admin's header, and one more
// tab runs as the customer alice, to see what a customer sees.
const headers = (token: string) => JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2);
const examples: { query: string; variables?: string; headers?: string }[] = await fetch(new URL('/graphiql/examples.json', location.href)).then((r) => r.json());
if (tokens) {
  for (const tab of examples) tab.headers = headers(tokens.admin);
  examples.push({ query: AS_CUSTOMER, headers: headers(tokens.customer) });
}

createRoot(document.getElementById('graphiql')!).render(
  createElement(GraphiQL, {
    fetcher,
    defaultTabs: examples,
    defaultHeaders: tokens ? headers(tokens.admin) : undefined,
    // Open the variables pane: two of the examples take variables.
    defaultEditorToolsVisibility: 'variables',
  }),
);
