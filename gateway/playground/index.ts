/**
 * The GraphiQL playground at /graphiql: a page and its assets, bundled from ./app.ts with esbuild into
 * .data/playground/ and served by the gateway from memory. No CDN: fonts, styles, scripts and Monaco's
 * workers all come from this server, so it works offline.
 *
 * Public surface: `buildPlayground` (at gateway startup) and `servePlayground` (from the router).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, extname, join, resolve } from 'node:path';
import type { Logger } from '../../services/shared/log.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const OUT_DIR = resolve(ROOT, '.data/playground');
/** Written last, so its presence means a complete bundle; it lists the files to serve. */
const MANIFEST = join(OUT_DIR, 'manifest.json');
/** A bundle older than any of these is rebuilt: this folder's files, and the locked dependency versions. */
const SOURCES = [import.meta.dirname, resolve(ROOT, 'package-lock.json')];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ttf': 'font/ttf',
};

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

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** What `servePlayground` serves: the assets by path, or why there are none. */
export type Playground = { assets: Map<string, Asset> } | { error: string };

let loading: Promise<Playground> | undefined;

/**
 * Bundles the playground unless .data/playground/ is newer than its sources, then loads it into memory.
 * Never throws: a failed build leaves /graphiql answering 503 with the reason, and the API unaffected.
 * Gateways in one process share one build.
 */
export function buildPlayground(log: Logger): Promise<Playground> {
  loading ??= load(log).catch((error: Error) => {
    loading = undefined;
    log.error(`the GraphiQL playground could not be built: ${error.message}`);
    return { error: `${error.message}\nRun \`npm install\` and restart the gateway.` };
  });
  return loading;
}

async function load(log: Logger): Promise<Playground> {
  const files = (await isFresh()) ? await readManifest() : await build(log);
  const assets = new Map<string, Asset>([['/graphiql', asset('.html', Buffer.from(PAGE))]]);
  for (const file of files) assets.set(`/graphiql/${file}`, asset(extname(file), await readFile(join(OUT_DIR, file))));
  return { assets };
}

async function isFresh(): Promise<boolean> {
  const built = await stat(MANIFEST).then((s) => s.mtimeMs, () => 0);
  return built > 0 && built >= (await newestMtime(SOURCES));
}

async function newestMtime(paths: string[]): Promise<number> {
  let newest = 0;
  for (const path of paths) {
    const info = await stat(path);
    newest = Math.max(newest, info.mtimeMs);
    if (info.isDirectory()) {
      newest = Math.max(newest, await newestMtime((await readdir(path)).map((name) => join(path, name))));
    }
  }
  return newest;
}

async function readManifest(): Promise<string[]> {
  return JSON.parse(await readFile(MANIFEST, 'utf8')) as string[];
}

async function build(log: Logger): Promise<string[]> {
  log.info('building the GraphiQL playground into .data/playground/ (only when its sources change)…');
  const started = Date.now();
  // Imported here: esbuild is only needed when the bundle is stale.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: {
      playground: resolve(import.meta.dirname, 'app.ts'),
      // Monaco's workers, loaded by app.ts from next to the page's script.
      'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
      'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
      'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
    },
    outdir: OUT_DIR,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    // Fixed names: the page and app.ts refer to them.
    assetNames: '[name]',
    loader: { '.ttf': 'file' },
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    logLevel: 'silent',
  });
  // Each file goes in under a temporary name and is renamed: another process building at the same time
  // writes the same bytes, and a reader never sees half a file.
  await mkdir(OUT_DIR, { recursive: true });
  const files: string[] = [];
  for (const output of result.outputFiles) {
    const file = basename(output.path);
    await writeFile(join(OUT_DIR, `${file}.${process.pid}.tmp`), output.contents);
    await rename(join(OUT_DIR, `${file}.${process.pid}.tmp`), join(OUT_DIR, file));
    files.push(file);
  }
  await writeFile(`${MANIFEST}.${process.pid}.tmp`, JSON.stringify(files));
  await rename(`${MANIFEST}.${process.pid}.tmp`, MANIFEST);
  const size = result.outputFiles.reduce((sum, f) => sum + f.contents.length, 0);
  log.info(`built the GraphiQL playground in ${Date.now() - started} ms (${(size / 1e6).toFixed(1)} MB)`);
  return files;
}

function asset(extension: string, body: Buffer): Asset {
  const type = CONTENT_TYPES[extension] ?? 'application/octet-stream';
  return { body, type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
}

/** Answers GET /graphiql and /graphiql/<asset>. */
export function servePlayground(playground: Playground, req: IncomingMessage, res: ServerResponse, pathname: string) {
  if ('error' in playground) {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end(`The GraphiQL playground is unavailable: ${playground.error}\n`);
  }
  const found = playground.assets.get(pathname.replace(/\/$/, ''));
  if (!found) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end('not found: the playground is at /graphiql\n');
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    return res.end('the playground answers GET only\n');
  }
  // Names are fixed, so the browser revalidates each time; the ETag makes that a 304 when nothing changed.
  const headers = { 'content-type': found.type, 'cache-control': 'no-cache', etag: found.etag };
  if (req.headers['if-none-match'] === found.etag) {
    res.writeHead(304, headers);
    return res.end();
  }
  res.writeHead(200, { ...headers, 'content-length': found.body.length });
  res.end(req.method === 'HEAD' ? undefined : found.body);
}
