/**
 * The dashboard against the real gateway: sign in with the admin link, turn
 * sharing on with the switch, send a request through the proxy and watch it
 * appear in the live table, turn sharing off and check the port is closed.
 * Also the Settings page: a bad value shows the server's message inline, a
 * good one is saved and survives a reload. Screenshots go to
 * test-results/screenshots/.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { getThroughProxy, startGateway, startOrigin, tryConnect, type Gateway, type Origin } from './gateway.js';

const SHOTS = 'test-results/screenshots';

let gw: Gateway;
let origin: Origin;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  origin = await startOrigin();
  gw = await startGateway();
});

test.afterAll(async () => {
  await gw?.stop();
  await origin?.close();
});

async function openAdmin(page: Page): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(gw.ready.adminUrl);
  // the token is traded for a cookie and dropped from the address
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('switch', { name: 'Enable sharing' })).toBeVisible();
  expect(errors, 'no page errors while loading').toEqual([]);
}

test('sharing switch starts the proxy, a request shows in the live table, switching off closes the port', async ({ page }) => {
  await openAdmin(page);
  const sw = page.getByRole('switch', { name: 'Enable sharing' });
  await expect(sw).toHaveAttribute('aria-checked', 'false');
  await expect(page.getByTestId('service-http')).toHaveAttribute('data-state', 'stopped');
  await expect(page.getByTestId('live-table')).toBeVisible();
  await expect(page.getByText('No requests yet')).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/01-dashboard-off.png`, fullPage: true, animations: 'disabled' });

  await sw.click();
  await expect(sw).toHaveAttribute('aria-checked', 'true', { timeout: 15_000 });
  const service = page.getByTestId('service-http');
  await expect(service).toHaveAttribute('data-state', 'running', { timeout: 15_000 });
  const address = (await service.getByTestId('service-address').first().textContent())?.trim() ?? '';
  const m = /^127\.0\.0\.1:(\d+)$/.exec(address);
  expect(m, `service address "${address}"`).not.toBeNull();
  const proxyPort = Number(m![1]);
  // the connection help names the same address and port
  await expect(page.getByTestId('proxy-endpoints')).toContainText(`127.0.0.1 port ${proxyPort}`);

  const res = await getThroughProxy(proxyPort, `http://127.0.0.1:${origin.port}/hello`);
  expect(res.status).toBe(200);
  expect(res.body).toBe('hello from origin: /hello\n');
  expect(origin.requests).toContain('GET /hello');

  const row = page.getByTestId('log-row').filter({ hasText: `127.0.0.1:${origin.port}/hello` });
  await expect(row).toHaveCount(1, { timeout: 15_000 });
  await expect(row).toContainText('GET');
  await expect(row.locator('.status')).toHaveText('200');
  await expect(row.locator('.status')).toHaveClass(/status-ok/);
  await expect(page.getByTestId('total-requests')).not.toHaveText('0', { timeout: 15_000 });
  await page.screenshot({ path: `${SHOTS}/02-dashboard-request.png`, fullPage: true, animations: 'disabled' });

  await sw.click();
  await expect(sw).toHaveAttribute('aria-checked', 'false', { timeout: 15_000 });
  await expect(service).toHaveAttribute('data-state', 'stopped', { timeout: 15_000 });
  expect(await tryConnect(proxyPort)).toBe('ECONNREFUSED');
  // the request stays in the table after sharing is off
  await expect(row).toHaveCount(1);
  await page.screenshot({ path: `${SHOTS}/03-dashboard-off-again.png`, fullPage: true, animations: 'disabled' });
});

test('settings: a bad value shows the server message inline and stays in the field; a good one is saved', async ({ page }) => {
  await openAdmin(page);
  await page.getByRole('button', { name: 'Settings' }).click();
  const field = page.getByLabel('http.port', { exact: true });
  await expect(field).toBeVisible();

  await field.fill('70000');
  await field.press('Enter');
  const row = page.getByTestId('setting-http.port');
  await expect(row.getByRole('alert')).toContainText('setting http.port');
  await expect(row.getByRole('alert')).toContainText('70000');
  await expect(field).toHaveValue('70000');
  await expect(field).toHaveAttribute('aria-invalid', 'true');
  await row.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/04-settings-error.png`, animations: 'disabled' });

  await row.getByRole('button', { name: 'Revert' }).click();
  await expect(field).not.toHaveValue('70000');

  const days = page.getByLabel('log.retentionDays', { exact: true });
  await days.fill('14');
  await page.getByTestId('setting-log.retentionDays').getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('setting-log.retentionDays').getByText('Saved')).toBeVisible();

  await page.reload();
  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page.getByLabel('log.retentionDays', { exact: true })).toHaveValue('14');
  await page.screenshot({ path: `${SHOTS}/05-settings.png`, fullPage: true, animations: 'disabled' });
});
