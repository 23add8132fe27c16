/**
 * The Log and Statistics pages against the real gateway in Chromium: traffic
 * through the proxy shows in the log; the text search and the 5xx chip filter
 * it; a click on a row opens its details and a click on its host filters by
 * it; an export to CSV finishes with a download whose rows parse and match the
 * filter; live mode shows a new request as it happens; the statistics count
 * the traffic. Screenshots go to test-results/screenshots/.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { getThroughProxy, startGateway, startOrigin, type Gateway, type Origin } from './gateway.js';

const SHOTS = 'test-results/screenshots';

let gw: Gateway;
let origin: Origin;
let proxyPort: number;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  origin = await startOrigin();
  gw = await startGateway({ sharing: 'on' });
  proxyPort = Number(String(gw.ready.http).split(':').pop());
  const base = `http://127.0.0.1:${origin.port}`;
  for (let i = 0; i < 8; i++) expect((await getThroughProxy(proxyPort, `${base}/alpha/page-${i}`)).status).toBe(200);
  for (let i = 0; i < 5; i++) expect((await getThroughProxy(proxyPort, `${base}/beta/item-${i}?x=${i}`)).status).toBe(200);
  // nothing listens on port 1025 (a safe port, as plain HTTP needs): the proxy answers 502
  for (let i = 0; i < 3; i++) expect((await getThroughProxy(proxyPort, `http://127.0.0.1:1025/down-${i}`)).status).toBe(502);
});

test.afterAll(async () => {
  await gw?.stop();
  await origin?.close();
});

async function openLog(page: Page): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(gw.ready.adminUrl);
  await page.getByRole('button', { name: 'Log', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Request log' })).toBeVisible();
  return errors;
}

const rows = (page: Page) => page.getByTestId('lv-row');

test('the log lists the traffic; search, chips and a click on a host filter it; a row opens its details', async ({ page }) => {
  const errors = await openLog(page);
  await expect(rows(page)).toHaveCount(16);
  await expect(page.getByTestId('lv-count')).toHaveText('16 requests');
  await expect(page.getByTestId('lv-size')).toContainText('Database');
  await page.screenshot({ path: `${SHOTS}/log-01-all.png`, animations: 'disabled' });

  await page.getByRole('searchbox', { name: 'Search hosts and URLs' }).fill('alpha');
  await expect(rows(page)).toHaveCount(8);
  await expect(page.getByTestId('lv-count')).toHaveText('8 requests');
  await expect(rows(page).first()).toContainText('/alpha/page-7');

  await page.getByRole('searchbox', { name: 'Search hosts and URLs' }).fill('');
  await page.getByTestId('lv-status-5xx').click();
  await expect(rows(page)).toHaveCount(3);
  await expect(rows(page).first().locator('.status')).toHaveText('502');
  await page.getByTestId('lv-status-5xx').click();
  await expect(rows(page)).toHaveCount(16);

  const beta = rows(page).filter({ hasText: '/beta/item-2' });
  await beta.click();
  const detail = page.getByTestId('lv-detail');
  await expect(detail).toBeVisible();
  await expect(page.getByTestId('lv-detail-url')).toHaveText(`http://127.0.0.1:${origin.port}/beta/item-2?x=2`);
  await expect(page.getByTestId('lv-detail-client')).toContainText('127.0.0.1:');
  await page.screenshot({ path: `${SHOTS}/log-02-detail.png`, animations: 'disabled' });

  // the host in a row is a filter: 127.0.0.1 is both hosts here, so pick the URL host of the 502s
  await rows(page).filter({ hasText: '/down-0' }).getByRole('button', { name: '127.0.0.1' }).first().click();
  await expect(page.getByTestId('lv-picked')).toHaveCount(1);
  await expect(rows(page)).toHaveCount(16);
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await expect(page.getByTestId('lv-picked')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('exporting the filtered log to CSV finishes with a download whose rows match the filter', async ({ page }) => {
  await openLog(page);
  await page.getByRole('searchbox', { name: 'Search hosts and URLs' }).fill('beta');
  await expect(rows(page)).toHaveCount(5);
  await page.getByRole('button', { name: 'Export…' }).click();
  await page.getByRole('menuitem', { name: /CSV/ }).click();
  const status = page.getByTestId('lv-export');
  await expect(status).toHaveAttribute('data-state', 'done', { timeout: 20_000 });
  await expect(status).toContainText('Exported 5 rows');
  await page.screenshot({ path: `${SHOTS}/log-03-export.png`, animations: 'disabled' });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('lv-download').click()]);
  expect(download.suggestedFilename()).toMatch(/^gatehouse-log-.*\.csv$/);
  const path = await download.path();
  const records = parse(readFileSync(path, 'utf8'), { columns: true }) as Array<{ url: string; status: string; method: string }>;
  expect(records).toHaveLength(5);
  expect(records.map((r) => r.url)).toEqual([4, 3, 2, 1, 0].map((i) => `http://127.0.0.1:${origin.port}/beta/item-${i}?x=${i}`));
  expect(records.every((r) => r.status === '200' && r.method === 'GET')).toBe(true);
});

test('live mode shows a new request as it happens, and only when it matches', async ({ page }) => {
  await openLog(page);
  await expect(rows(page)).toHaveCount(16);
  await page.getByTestId('lv-live').click();
  await expect(page.getByTestId('lv-live')).toHaveAttribute('aria-pressed', 'true');
  await page.getByRole('searchbox', { name: 'Search hosts and URLs' }).fill('gamma');
  await expect(page.getByTestId('lv-empty')).toBeVisible();
  await getThroughProxy(proxyPort, `http://127.0.0.1:${origin.port}/alpha/not-shown`);
  await getThroughProxy(proxyPort, `http://127.0.0.1:${origin.port}/gamma/live-1`);
  await expect(rows(page)).toHaveCount(1, { timeout: 15_000 });
  await expect(rows(page).first()).toContainText('/gamma/live-1');
  await page.getByRole('searchbox', { name: 'Search hosts and URLs' }).fill('');
  await expect(rows(page)).toHaveCount(18);
  await getThroughProxy(proxyPort, `http://127.0.0.1:${origin.port}/gamma/live-2`);
  await expect(rows(page).first()).toContainText('/gamma/live-2', { timeout: 15_000 });
  await expect(page.getByTestId('lv-count')).toHaveText('19 requests');
  await page.screenshot({ path: `${SHOTS}/log-04-live.png`, animations: 'disabled' });
});

test('the statistics page counts the traffic and lists the top hosts', async ({ page }) => {
  await openLog(page);
  await page.getByRole('button', { name: 'Statistics' }).click();
  await expect(page.getByTestId('st-requests')).toContainText('19');
  await expect(page.getByTestId('st-top-host').locator('.st-item').first()).toContainText('127.0.0.1');
  await expect(page.getByTestId('st-traffic-chart').locator('svg').first()).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/stats-01.png`, fullPage: true, animations: 'disabled' });
  // a top host opens the log filtered by it
  await page.getByTestId('st-top-client').locator('.st-item').first().click();
  await expect(page.getByRole('heading', { name: 'Request log' })).toBeVisible();
  await expect(page.getByTestId('lv-picked')).toContainText('client 127.0.0.1');
});
