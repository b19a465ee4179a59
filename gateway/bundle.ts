/**
 * A browser page served from memory: bundled by esbuild into .data/<name>/ when stale, served with an ETag. No CDN,
 * so it works offline. Used by /graphiql (playground/) and /app (app/).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, extname, join, resolve } from 'node:path';
import type { Loader } from 'esbuild';
import type { Logger } from '../services/shared/log.ts';

const ROOT = resolve(import.meta.dirname, '..');
const LOCKFILE = resolve(ROOT, 'package-lock.json');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ttf': 'font/ttf',
};

export interface PageBundleOptions {
  /** Output folder under .data/, e.g. `playground`. */
  name: string;
  /** What it is, for logs and error answers, e.g. `the GraphiQL playground`. */
  title: string;
  /** Where it is served, e.g. `/graphiql`: the page at the path itself, each file at `<mount>/<file>`. */
  mount: string;
  /** The HTML answered at `mount`; it refers to the bundled files by `<mount>/<file>`. */
  page: string;
  /** esbuild entry points: output name (without .js) → source. */
  entryPoints: Record<string, string>;
  /** Files and folders whose changes make the bundle stale; package-lock.json and this file always are. */
  sources: string[];
  /** esbuild loaders by extension, e.g. `{ '.ttf': 'file' }`. */
  loader?: Record<string, Loader>;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** What `servePageBundle` serves: the assets by path, or why there are none. */
export type PageBundle = { title: string; mount: string } & ({ assets: Map<string, Asset> } | { error: string });

const loading = new Map<string, Promise<PageBundle>>();

/** Bundles the page if stale and loads it. Never throws: a failed build answers 503 with the reason, and is tried again. */
export function buildPageBundle(options: PageBundleOptions, log: Logger): Promise<PageBundle> {
  let pending = loading.get(options.name);
  if (!pending) {
    pending = load(options, log).catch((error: Error) => {
      loading.delete(options.name);
      log.error(`${options.title} could not be built: ${error.message}`);
      return { title: options.title, mount: options.mount, error: `${error.message}\nRun \`npm install\` and restart the gateway.` };
    });
    loading.set(options.name, pending);
  }
  return pending;
}

async function load(options: PageBundleOptions, log: Logger): Promise<PageBundle> {
  const outDir = resolve(ROOT, '.data', options.name);
  // Written last, so its presence means a complete bundle; it lists the files to serve.
  const manifest = join(outDir, 'manifest.json');
  const files = (await isFresh(manifest, [...options.sources, LOCKFILE, import.meta.filename]))
    ? (JSON.parse(await readFile(manifest, 'utf8')) as string[])
    : await build(options, outDir, manifest, log);
  const assets = new Map<string, Asset>([[options.mount, asset('.html', Buffer.from(options.page))]]);
  for (const file of files) assets.set(`${options.mount}/${file}`, asset(extname(file), await readFile(join(outDir, file))));
  return { title: options.title, mount: options.mount, assets };
}

async function isFresh(manifest: string, sources: string[]): Promise<boolean> {
  const built = await stat(manifest).then((s) => s.mtimeMs, () => 0);
  return built > 0 && built >= (await newestMtime(sources));
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

async function build(options: PageBundleOptions, outDir: string, manifest: string, log: Logger): Promise<string[]> {
  log.info(`building ${options.title} into .data/${options.name}/ (only when its sources change)…`);
  const started = Date.now();
  // Imported here: esbuild is only needed when the bundle is stale.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: options.entryPoints,
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    // Fixed names: the page refers to them.
    assetNames: '[name]',
    loader: options.loader,
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    logLevel: 'silent',
  });
  // Each file goes in under a temporary name and is renamed: another process building at the same time
  // writes the same bytes, and a reader never sees half a file.
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  for (const output of result.outputFiles) {
    const file = basename(output.path);
    await writeFile(join(outDir, `${file}.${process.pid}.tmp`), output.contents);
    await rename(join(outDir, `${file}.${process.pid}.tmp`), join(outDir, file));
    files.push(file);
  }
  await writeFile(`${manifest}.${process.pid}.tmp`, JSON.stringify(files));
  await rename(`${manifest}.${process.pid}.tmp`, manifest);
  const size = result.outputFiles.reduce((sum, f) => sum + f.contents.length, 0);
  log.info(`built ${options.title} in ${Date.now() - started} ms (${(size / 1e6).toFixed(1)} MB)`);
  return files;
}

function asset(extension: string, body: Buffer): Asset {
  const type = CONTENT_TYPES[extension] ?? 'application/octet-stream';
  return { body, type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
}

/** Answers GET/HEAD of the page (`<mount>`, `<mount>/`) and of its files (`<mount>/<file>`). */
export function servePageBundle(bundle: PageBundle, req: IncomingMessage, res: ServerResponse, pathname: string) {
  if ('error' in bundle) {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end(`${capitalize(bundle.title)} is unavailable: ${bundle.error}\n`);
  }
  const found = bundle.assets.get(pathname.replace(/\/$/, ''));
  if (!found) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end(`not found: ${bundle.title} is at ${bundle.mount}\n`);
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    return res.end(`${bundle.title} answers GET only\n`);
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

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
