/** Serving a page bundle from memory: the page, its files, revalidation by ETag, and the refusals. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { servePageBundle, type PageBundle } from './bundle.ts';

const asset = (body: string, type: string, etag: string) => ({ body: Buffer.from(body), type, etag });
const bundle: PageBundle = {
  title: 'the test page',
  mount: '/page',
  assets: new Map([
    ['/page', asset('<!doctype html>', 'text/html; charset=utf-8', '"h"')],
    ['/page/app.js', asset('console.log(1)', 'text/javascript; charset=utf-8', '"j"')],
  ]),
};

/** Serves one request into a recording response. */
function serve(target: PageBundle, pathname: string, method = 'GET', headers: Record<string, string> = {}) {
  const answer = { status: 0, headers: {} as Record<string, unknown>, body: '' };
  const res = {
    writeHead(status: number, h: Record<string, unknown> = {}) {
      answer.status = status;
      answer.headers = h;
      return res;
    },
    end(body?: Buffer | string) {
      answer.body = body === undefined ? '' : String(body);
      return res;
    },
  };
  servePageBundle(target, { method, headers } as unknown as IncomingMessage, res as unknown as ServerResponse, pathname);
  return answer;
}

describe('servePageBundle', () => {
  it('serves the page at its mount, with or without a trailing slash, and its files below it', () => {
    for (const path of ['/page', '/page/']) {
      const page = serve(bundle, path);
      expect(page.status).toBe(200);
      expect(page.body).toBe('<!doctype html>');
      expect(page.headers).toMatchObject({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', etag: '"h"', 'content-length': 15 });
    }
    expect(serve(bundle, '/page/app.js')).toMatchObject({ status: 200, body: 'console.log(1)', headers: { 'content-type': 'text/javascript; charset=utf-8' } });
  });

  it('answers 304 when the browser has the same version, and HEAD without a body', () => {
    expect(serve(bundle, '/page/app.js', 'GET', { 'if-none-match': '"j"' })).toMatchObject({ status: 304, body: '' });
    expect(serve(bundle, '/page/app.js', 'GET', { 'if-none-match': '"old"' }).status).toBe(200);
    expect(serve(bundle, '/page/app.js', 'HEAD')).toMatchObject({ status: 200, body: '', headers: { 'content-length': 14 } });
  });

  it('refuses unknown files, other methods, and says why a failed build has no page', () => {
    expect(serve(bundle, '/page/missing.js')).toMatchObject({ status: 404, body: 'not found: the test page is at /page\n' });
    expect(serve(bundle, '/page', 'POST')).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
    const failed = serve({ title: 'the test page', mount: '/page', error: 'esbuild is missing' }, '/page');
    expect(failed).toMatchObject({ status: 503, body: 'The test page is unavailable: esbuild is missing\n' });
  });
});
