import { expect, it } from 'vitest';
import { CHROMIUM, ensureChromium } from '../scripts/prepare.ts';

it('leaves an installed Chromium alone', () => {
  expect(() => ensureChromium({ path: process.execPath, root: false })).not.toThrow();
});

it('stops with the one command to run when Chromium is missing and it may not install it', () => {
  expect(() => ensureChromium({ path: '/nonexistent/chromium', root: false })).toThrow(
    "/nonexistent/chromium is missing: the playground's browser tests drive Debian's Chromium. Install it with `sudo sh -c 'apt-get update && apt-get install -y chromium'` and run npm test again",
  );
  expect(CHROMIUM).toBe('/usr/bin/chromium');
});
