/**
 * Port mappings, upstream chains and routes against the real gateway
 * (sharing on, everything on loopback): a TCP mapping added in the UI to a
 * loopback echo server runs, forwards a raw TCP connection both ways and is
 * logged as service "mapping"; switched off it stops listening; a port
 * another program holds is refused in the dialog, naming the cause. A chain
 * with a SOCKS5 hop and a password shows "password saved" and never the
 * password, not even after a reload; its check reports the closed hop's
 * error; a route through it is what the rule tester answers. Screenshots of
 * both pages at 1280×800 and 900×700 go to test-results/screenshots/.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { startGateway, tryConnect, type Gateway } from './gateway.js';

const SHOTS = 'test-results/screenshots';
const HOP_PASSWORD = 'hop-secret-Zq81x';
const SIZES = [
  { width: 1280, height: 800 },
  { width: 900, height: 700 },
] as const;

let gw: Gateway;
let echo: net.Server;
let echoPort: number;

test.describe.configure({ mode: 'serial' });

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A port nothing listens on (listened on once, then closed). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Sends `text` over a raw TCP connection and resolves with what comes back first. */
function echoThrough(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer through port ${port} within 5 s`));
    }, 5_000);
    socket.setEncoding('utf8');
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.once('connect', () => socket.write(text));
    socket.once('data', (d: string) => {
      clearTimeout(timer);
      socket.end();
      resolve(d);
    });
  });
}

test.beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  echo = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  echoPort = await listen(echo);
  gw = await startGateway({ sharing: 'on' });
});

test.afterAll(async () => {
  await gw?.stop();
  await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
});

async function openAdmin(page: Page): Promise<void> {
  await page.goto(gw.ready.adminUrl);
  await expect(page.getByRole('switch', { name: 'Enable sharing' })).toBeVisible();
}

function nav(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Pages' }).getByRole('button', { name, exact: true });
}

async function shoot(page: Page, name: string): Promise<void> {
  for (const size of SIZES) {
    await page.setViewportSize(size);
    await page.screenshot({ path: `${SHOTS}/${name}-${size.width}x${size.height}.png`, animations: 'disabled' });
  }
  await page.setViewportSize({ width: 1280, height: 860 });
}

test('a TCP mapping added in the UI forwards a raw connection, is logged as "mapping", stops when switched off, and a taken port is refused in the dialog', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openAdmin(page);
  await nav(page, 'Mappings').click();
  await expect(page.getByRole('heading', { name: 'Port mappings', level: 1 })).toBeVisible();
  await expect(page.getByTestId('mappings-empty')).toContainText('Gatehouse forwards every connection to the one destination');

  const port = await freePort();
  await page.getByRole('button', { name: 'Add the first mapping' }).click();
  const dialog = page.getByTestId('mapping-dialog');
  await dialog.getByRole('button', { name: 'POP3 110' }).click();
  await expect(dialog.getByLabel('Port')).toHaveValue('110');
  await expect(dialog.getByLabel('Name')).toHaveValue('pop3');
  await dialog.getByLabel('Name').fill('echo');
  await dialog.getByLabel('Port').fill(String(port));
  await dialog.getByLabel('Forward to').fill('127.0.0.1');
  await dialog.getByRole('button', { name: 'Add mapping' }).click();
  await expect(dialog.getByRole('alert')).toContainText('is not host:port');
  await dialog.getByLabel('Forward to').fill(`127.0.0.1:${echoPort}`);
  await dialog.getByLabel('Note').fill('loopback echo for the test');
  await dialog.getByRole('button', { name: 'Add mapping' }).click();
  await expect(dialog).toBeHidden();

  const row = page.locator('[data-testid="mapping-row"][data-mapping="echo"]');
  await expect(row).toContainText('TCP');
  await expect(row).toContainText(`127.0.0.1:${echoPort}`);
  await expect(row.getByTestId('mapping-state')).toHaveAttribute('data-state', 'running');
  await expect(row).toContainText('on 127.0.0.1 (this PC only)');
  expect(await echoThrough(port, 'hello through the mapping\n')).toBe('hello through the mapping\n');

  // a port another program holds: refused in the dialog, which stays open with what was typed
  const blocker = net.createServer();
  const taken = await listen(blocker);
  try {
    await page.getByRole('button', { name: 'Add mapping' }).click();
    await dialog.getByLabel('Name').fill('clash');
    await dialog.getByLabel('Port').fill(String(taken));
    await dialog.getByLabel('Forward to').fill(`127.0.0.1:${echoPort}`);
    await dialog.getByRole('button', { name: 'Add mapping' }).click();
    await expect(dialog.getByRole('alert')).toContainText(`port ${taken}/tcp is already in use by another program`);
    await expect(dialog.getByLabel('Port')).toHaveAttribute('aria-invalid', 'true');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: `${SHOTS}/mappings-port-taken-1280x800.png`, animations: 'disabled' });
    // the port of another mapping: named as that mapping's
    await dialog.getByLabel('Port').fill(String(port));
    await dialog.getByRole('button', { name: 'Add mapping' }).click();
    await expect(dialog.getByRole('alert')).toContainText(`already used by mapping "echo"`);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toBeHidden();
  } finally {
    await new Promise<void>((r) => blocker.close(() => r()));
  }
  await expect(page.getByTestId('mapping-row')).toHaveCount(1);
  await shoot(page, 'mappings');

  // the connection is in the log as service "mapping", found by the service filter
  await nav(page, 'Log').click();
  await page.getByTestId('lv-filters').getByRole('button', { name: 'Mapping', exact: true }).click();
  const logRow = page.getByTestId('lv-row').first();
  await expect(logRow).toContainText('TCP');
  await expect(page.getByTestId('lv-row')).toHaveCount(1);
  await logRow.click();
  await expect(page.getByTestId('lv-detail-service')).toContainText('mapping:echo');
  await expect(page.getByTestId('lv-detail-route')).toContainText('Direct');
  await expect(page.getByTestId('lv-detail')).toContainText('OK');

  // switched off: stopped, and the port refuses connections
  await nav(page, 'Mappings').click();
  await row.getByRole('switch', { name: 'Enabled echo' }).click();
  await expect(row.getByTestId('mapping-state')).toHaveAttribute('data-state', 'stopped');
  await expect(row.getByTestId('mapping-state')).toContainText('disabled');
  expect(await tryConnect(port)).toBe('ECONNREFUSED');
  expect(errors, 'no page errors').toEqual([]);
});

test('a chain with a SOCKS5 hop keeps its password out of the page; its check names the closed hop; a route through it is the tester’s answer', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const closed = await freePort();
  await openAdmin(page);
  await nav(page, 'Upstream').click();
  await expect(page.getByRole('heading', { name: 'Chains & routes', level: 1 })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Add route' })).toBeDisabled();

  await page.getByRole('button', { name: 'Add chain' }).click();
  const editor = page.getByTestId('chain-editor');
  await editor.getByLabel('Name', { exact: true }).fill('corp');
  const hop = editor.getByTestId('hop-edit').first();
  await hop.getByLabel('Kind').selectOption('socks5');
  await hop.getByLabel('Host').fill('127.0.0.1');
  await hop.getByLabel('Port').fill(String(closed));
  await hop.getByLabel('User', { exact: true }).fill('alice');
  await hop.getByLabel('Password').fill(HOP_PASSWORD);
  await editor.getByRole('button', { name: 'Add chain' }).click();
  await expect(editor).toBeHidden();

  const chain = page.locator('[data-testid="chain-row"][data-chain="corp"]');
  await expect(chain.getByTestId('hop')).toHaveText(new RegExp(`socks5://alice@127\\.0\\.0\\.1:${closed}\\s*password saved`));
  await expect(chain).toContainText('The last hop runs on this PC, so names are looked up and decided on this PC');

  // after a reload, neither the page nor the edit dialog holds the password
  await page.reload();
  await nav(page, 'Upstream').click();
  await expect(chain).toContainText('password saved');
  expect(await page.content()).not.toContain(HOP_PASSWORD);
  await page.getByRole('button', { name: 'Edit chain corp' }).click();
  await expect(editor.getByTestId('hop-edit').first().getByLabel('Password')).toHaveValue('');
  await expect(editor).toContainText('A password is saved: leave the field empty to keep it');
  expect(await page.content()).not.toContain(HOP_PASSWORD);
  await editor.getByRole('button', { name: 'Save chain' }).click();
  await expect(editor).toBeHidden();
  await expect(chain).toContainText('password saved');

  // the check reaches for the hop and reports it closed
  await page.getByRole('button', { name: 'Check corp' }).click();
  const check = chain.getByTestId('hop-check').first();
  await expect(check).toHaveAttribute('data-ok', 'false');
  await expect(check).toContainText(`socks5://alice@127.0.0.1:${closed}`);
  await expect(check.locator('.hop-check-error')).not.toBeEmpty();

  // a route for 192.0.2.0/24 through corp, direct when corp is down
  await page.getByRole('button', { name: 'Add route' }).click();
  const routeEditor = page.getByTestId('route-editor');
  await expect(routeEditor.getByLabel('Go out')).toHaveValue('corp');
  await routeEditor.getByLabel('When the chain is down').selectOption('direct');
  await routeEditor.getByLabel('Destinations').fill('192.0.2.0/24 ');
  await expect(routeEditor.getByTestId('route-preview')).toHaveText('Through corp: everyone → 192.0.2.0/24; when corp is down it goes direct');
  await routeEditor.getByRole('button', { name: 'Add route' }).click();
  await expect(routeEditor).toBeHidden();
  const route = page.getByTestId('route-row');
  await expect(route).toHaveCount(1);
  await expect(route).toContainText('everyone → 192.0.2.0/24');
  await expect(route).toContainText('When corp is down: it goes direct.');
  await expect(chain).toContainText('used by 1 route');

  // the tester on this page says which way a request goes, and marks the route
  const tester = page.getByTestId('rule-tester');
  await tester.getByLabel('Device address').fill('127.0.0.1');
  // (the hop runs on this PC, so names would be looked up here, and this machine has no DNS)
  await tester.getByLabel('Host').fill('192.0.2.10');
  await tester.getByLabel('Port').fill('443');
  await tester.getByRole('button', { name: 'Check' }).click();
  await expect(tester.getByTestId('rule-test-result')).toContainText('Allowed');
  await expect(tester.getByTestId('rule-test-route')).toContainText('through corp');
  await expect(route).toContainText('the tester’s request goes this way');
  await shoot(page, 'chains-routes');

  // a destination no route matches goes direct (an address: the answer needs no DNS lookup here); the Rules page shows the routes in short
  await tester.getByLabel('Host').fill('203.0.113.10');
  await tester.getByRole('button', { name: 'Check' }).click();
  await expect(tester.getByTestId('rule-test-result')).toContainText('Allowed');
  await expect(tester.getByTestId('rule-test-route')).toContainText('direct (no route matches)');
  await nav(page, 'Rules').click();
  await expect(page.getByTestId('routes-summary')).toContainText('everyone → 192.0.2.0/24 goes through corp');
  expect(await page.content()).not.toContain(HOP_PASSWORD);
  expect(errors, 'no page errors').toEqual([]);
});
