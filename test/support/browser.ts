/**
 * A page in Debian's Chromium (driven by playwright-core) that records every URL it requests and every
 * graphql-ws message it sends and receives, and leaves a screenshot in test/artifacts/ when it closes.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM } from '../../scripts/prepare.ts';

const ARTIFACTS = resolve(import.meta.dirname, '../artifacts');

export interface RecordedPage {
  page: Page;
  /** Every URL the page asked for, HTTP and WebSocket. */
  requested: string[];
  /** The graphql-ws messages the page sent and received, parsed. */
  sent: any[];
  received: any[];
  /** Takes the screenshot (kept whether the tests passed or not: it shows what a person would have seen), then closes. */
  close(): Promise<void>;
}

export async function openRecordedPage(screenshot: string, viewport: { width: number; height: number }): Promise<RecordedPage> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: this test drives Debian's Chromium, which npm test installs (scripts/prepare.ts) or names the command for.`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport });
  const recorded: RecordedPage = {
    page,
    requested: [],
    sent: [],
    received: [],
    async close() {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: resolve(ARTIFACTS, screenshot), timeout: 10_000 }).catch(() => {});
      await browser.close();
    },
  };
  page.on('request', (request) => recorded.requested.push(request.url()));
  page.on('websocket', (socket) => {
    recorded.requested.push(socket.url());
    socket.on('framesent', ({ payload }) => recorded.sent.push(JSON.parse(String(payload))));
    socket.on('framereceived', ({ payload }) => recorded.received.push(JSON.parse(String(payload))));
  });
  return recorded;
}
