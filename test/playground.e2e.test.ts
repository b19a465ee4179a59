/**
 * The GraphiQL playground at /graphiql in a real browser (Debian's Chromium, driven by playwright-core)
 * against the whole system: a query and a subscription run from the page, and nothing the page loads
 * comes from anywhere but the gateway. Leaves a screenshot in test/artifacts/playground.png.
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRecordedPage, type RecordedPage } from './support/browser.ts';
import { startSystem, type TestSystem } from './support/system.ts';

const ADD = `mutation($product: String!, $quantity: Int!) { addInventory(product: $product, quantity: $quantity) { product } }`;
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
/** Long enough for a cold first start (Monaco, schema introspection); the waits below end as soon as they hold. */
const UI_TIMEOUT_MS = 30_000;

let system: TestSystem;
let recorded: RecordedPage;
let page: Page;
let origin: URL;

beforeAll(async () => {
  system = await startSystem();
  origin = new URL(system.gateways[0].url);
  recorded = await openRecordedPage('playground.png', { width: 1440, height: 900 });
  page = recorded.page;
});

afterAll(async () => {
  try {
    await recorded?.close();
  } finally {
    await system?.stop();
  }
});

const tab = (name: string) => page.locator('.graphiql-tab-button', { hasText: name });
const execute = () => page.getByRole('button', { name: /^Execute query/ });
const resultText = () => page.locator('.result-window').innerText();

/** Replaces the variables editor's text (a Monaco editor, so no `fill`). */
async function setVariables(variables: Record<string, unknown>) {
  const text = JSON.stringify(variables);
  const editor = page.locator('.graphiql-editor-tool .monaco-editor').first();
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.insertText(text);
  // Monaco renders spaces as no-break spaces.
  await expect.poll(async () => (await editor.locator('.view-lines').innerText()).replace(/\u00a0/g, ' '), { timeout: UI_TIMEOUT_MS }).toBe(text);
}

describe('the GraphiQL playground', () => {
  it('opens with its example operations and runs a query', async () => {
    const product = `PLAYGROUND-${randomUUID().slice(0, 6)}`;
    expect((await system.gql(ADD, { product, quantity: 7 })).errors).toBeUndefined();

    await page.goto(new URL('/graphiql', origin).href);
    for (const name of ['Inventory', 'PlaceOrder', 'WatchOrder']) await tab(name).waitFor({ timeout: UI_TIMEOUT_MS });

    await tab('Inventory').click();
    await execute().click();
    await expect.poll(resultText, { timeout: UI_TIMEOUT_MS }).toContain(product);
    expect(await resultText()).toMatch(/"available":\s*7/);
  });

  it('shows the schema docs, read by introspection', async () => {
    await page.getByRole('button', { name: /documentation explorer/i }).click();
    await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor({ timeout: UI_TIMEOUT_MS });
  });

  it('runs a subscription over graphql-ws and shows the states pushed to it', async () => {
    const id = `order-${randomUUID()}`;
    const product = `PLAYGROUND-${randomUUID().slice(0, 6)}`;
    expect((await system.gql(ADD, { product, quantity: 3 })).errors).toBeUndefined();
    await tab('WatchOrder').click();
    await setVariables({ id });
    await execute().click();
    // Live once the page has recorded.sent its subscribe message; an order placed earlier would still arrive as its
    // current state, but this way the page sees it move.
    await expect
      .poll(() => recorded.sent.some((m) => m.type === 'subscribe' && m.payload.variables?.id === id), { timeout: UI_TIMEOUT_MS })
      .toBe(true);
    expect((await system.gql(PLACE, { input: { id, customerId: 'playground', product, quantity: 1, price: 10 } })).errors).toBeUndefined();

    await expect.poll(resultText, { timeout: UI_TIMEOUT_MS }).toMatch(/"state":\s*"VALIDATED"/);
    const states = recorded.received.filter((m) => m.type === 'next' && m.payload.data?.orderUpdated?.id === id).map((m) => m.payload.data.orderUpdated.state);
    expect(states[0]).toBe('CREATED');
    expect(states.at(-1)).toBe('VALIDATED');
  });

  it('loads nothing from outside the gateway', () => {
    const outside = recorded.requested.filter((url) => {
      const { protocol, host } = new URL(url);
      if (protocol === 'data:' || protocol === 'blob:') return false;
      return !['http:', 'ws:'].includes(protocol) || host !== origin.host;
    });
    expect(recorded.requested.length).toBeGreaterThan(0);
    expect(outside).toEqual([]);
  });
});
