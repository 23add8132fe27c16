/**
 * Users and rules against the real gateway (sharing on, HTTP and SOCKS on
 * loopback): sign-in for SOCKS set to Required from the Users page, a user
 * added in the UI then used by curl over SOCKS5 (a wrong password refused),
 * "Disconnect now" ending that user's open tunnel; a deny rule added in the
 * UI (after a reversed port range is shown inline) refuses the request over
 * HTTP (403) and SOCKS (curl exit 97), the tester names it, and the log
 * records it. Screenshots go to test-results/screenshots/.
 */
import { test, expect, type Page } from '@playwright/test';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { SocksClient } from 'socks';
import { getThroughProxy, startGateway, startOrigin, type Gateway, type Origin } from './gateway.js';

const SHOTS = 'test-results/screenshots';
const USER = 'alice';
const PASSWORD = 'correct horse 7';
const RULE = 'Block the test origin';

let gw: Gateway;
let origin: Origin;
let httpPort: number;
let socksPort: number;

test.describe.configure({ mode: 'serial' });

function portOf(addr: string | null, what: string): number {
  const m = /:(\d+)$/.exec(addr ?? '');
  if (!m) throw new Error(`no ${what} address in the ready line: ${JSON.stringify(gw.ready)}`);
  return Number(m[1]);
}

test.beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  origin = await startOrigin();
  gw = await startGateway({ sharing: 'on', socks: true });
  httpPort = portOf(gw.ready.http, 'HTTP');
  socksPort = portOf(gw.ready.socks, 'SOCKS');
});

test.afterAll(async () => {
  await gw?.stop();
  await origin?.close();
});

/** Calls the control API as the web admin does, with the admin token. */
async function api<T>(method: string, input: unknown = {}): Promise<T> {
  const token = new URL(gw.ready.adminUrl).searchParams.get('token');
  const res = await fetch(`${gw.ready.admin}/api/call/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(input),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { ok: boolean; value?: T; error?: unknown };
  if (!body.ok) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.value as T;
}

interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** curl through the SOCKS5 proxy; resolves with curl's exit code (97: the proxy refused). */
function curlSocks(path: string, credentials?: string): Promise<CurlResult> {
  const args = ['--silent', '--show-error', '--max-time', '10', '--socks5', `127.0.0.1:${socksPort}`];
  if (credentials) args.push('--proxy-user', credentials);
  args.push(`http://127.0.0.1:${origin.port}${path}`);
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function openAdmin(page: Page): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(gw.ready.adminUrl);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('switch', { name: 'Enable sharing' })).toBeVisible();
  expect(errors, 'no page errors while loading').toEqual([]);
}

function nav(page: Page, name: 'Dashboard' | 'Users' | 'Rules') {
  return page.getByRole('navigation', { name: 'Pages' }).getByRole('button', { name, exact: true });
}

test('a user added in the UI signs in over SOCKS5 once sign-in is required; a wrong password is refused; Disconnect now ends their tunnel', async ({ page }) => {
  await openAdmin(page);
  await nav(page, 'Users').click();
  await expect(page.getByRole('heading', { name: 'Users', level: 1 })).toBeVisible();
  await expect(page.getByText('No users yet')).toBeVisible();

  // sign-in for SOCKS: Required, so the password is really checked
  const socksLogin = page.getByTestId('login-socks');
  await expect(socksLogin).toHaveAttribute('data-mode', 'off');
  await socksLogin.getByText('Required', { exact: true }).click();
  await expect(socksLogin).toHaveAttribute('data-mode', 'required');
  await expect(socksLogin).toContainText('Every device must sign in');
  expect((await api<Record<string, unknown>>('settings.get'))['socks.login']).toBe('required');
  const anonymous = await curlSocks('/anonymous');
  expect(anonymous.code, `curl without a login: ${anonymous.stderr}`).not.toBe(0);

  // add the user; a password typed differently twice is caught before saving
  await page.getByRole('button', { name: 'Add the first user' }).click();
  const dialog = page.getByTestId('user-dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('User name').fill(USER);
  await dialog.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await dialog.getByLabel('Confirm password').fill('something else');
  await expect(dialog.getByText('The passwords differ.')).toBeVisible();
  await dialog.getByLabel('Note').fill('E2E test user');
  await page.screenshot({ path: `${SHOTS}/10-users-add-dialog.png`, animations: 'disabled' });
  await dialog.getByRole('button', { name: 'Add user' }).click();
  await expect(dialog.getByRole('alert')).toContainText('The two passwords differ');
  await dialog.getByLabel('Confirm password').fill(PASSWORD);
  await dialog.getByRole('button', { name: 'Add user' }).click();
  await expect(dialog).toBeHidden();
  const row = page.locator(`[data-testid="user-row"][data-user="${USER}"]`);
  await expect(row).toBeVisible();
  await expect(row).toContainText('E2E test user');
  await expect(row.getByRole('switch')).toHaveAttribute('aria-checked', 'true');

  const good = await curlSocks('/socks-ok', `${USER}:${PASSWORD}`);
  expect(good.code, `curl with the right password: ${good.stderr}`).toBe(0);
  expect(good.stdout).toBe('hello from origin: /socks-ok\n');
  const bad = await curlSocks('/socks-bad', `${USER}:wrong password`);
  expect(bad.code, 'curl with a wrong password fails').toBe(97);
  expect(origin.requests).not.toContain('GET /socks-bad');

  // an open tunnel of the user shows on the page, and Disconnect now ends it
  const { socket } = await SocksClient.createConnection({
    command: 'connect',
    proxy: { host: '127.0.0.1', port: socksPort, type: 5, userId: USER, password: PASSWORD },
    destination: { host: '127.0.0.1', port: origin.port },
    timeout: 10_000,
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => {});
  try {
    await expect(row.locator('.live-count')).toHaveText('1 open', { timeout: 15_000 });
    await page.screenshot({ path: `${SHOTS}/11-users.png`, fullPage: true, animations: 'disabled' });
    await row.getByRole('button', { name: 'Disconnect now' }).click();
    await expect(row.getByRole('status')).toContainText(`Ended 1 connection of ${USER}`);
    const ended = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
    expect(ended, 'the tunnel was closed by the gateway').toBe(true);
    await expect(row.locator('.live-count')).toHaveText('none', { timeout: 15_000 });
  } finally {
    socket.destroy();
  }
});

test('a deny rule added in the UI refuses HTTP (403) and SOCKS (exit 97); the tester names it and the log records it', async ({ page }) => {
  await openAdmin(page);
  // before: the first-run "Local network" rule lets this PC through
  expect((await getThroughProxy(httpPort, `http://127.0.0.1:${origin.port}/before`)).status).toBe(200);

  await nav(page, 'Rules').click();
  await expect(page.getByText('First match wins.')).toBeVisible();
  await expect(page.getByTestId('rule-row')).toHaveCount(1);
  await expect(page.getByTestId('default-action')).toHaveAttribute('data-action', 'deny');

  await page.getByRole('button', { name: 'Add rule' }).click();
  const editor = page.getByTestId('rule-editor');
  await expect(editor).toBeVisible();
  await editor.getByLabel('Name').fill(RULE);
  await expect(editor.getByTestId('rule-action').getByRole('radio', { name: 'Deny' })).toBeChecked();
  await editor.getByLabel('Destinations').fill('127.0.0.1');
  await editor.getByLabel('Ports').fill('90-80');
  await editor.getByRole('button', { name: 'Add rule' }).click();
  // the server's message beside the form; what was typed stays
  await expect(editor.getByRole('alert')).toContainText(`rule "${RULE}": port range "90-80" is reversed`);
  await expect(editor.getByLabel('Ports')).toHaveValue('90-80');
  await expect(editor.getByLabel('Ports')).toBeFocused();
  await expect(editor.getByTestId('chip')).toHaveText(['127.0.0.1×']);
  await page.screenshot({ path: `${SHOTS}/12-rule-editor-error.png`, animations: 'disabled' });

  await editor.getByLabel('Ports').fill(String(origin.port));
  await expect(editor.getByRole('alert')).toHaveCount(0);
  await expect(editor.getByTestId('rule-preview')).toHaveText(`Deny everyone → 127.0.0.1 port ${origin.port}`);
  await editor.getByRole('button', { name: 'Add rule' }).click();
  await expect(editor).toBeHidden();

  const rows = page.getByTestId('rule-row');
  await expect(rows).toHaveCount(2);
  await expect(rows.first()).toHaveAttribute('data-rule', RULE);
  await expect(rows.first().getByTestId('rule-summary')).toHaveText(`Deny everyone → 127.0.0.1 port ${origin.port}`);

  // the request is refused at once, over both proxies
  const refused = await getThroughProxy(httpPort, `http://127.0.0.1:${origin.port}/http-denied`);
  expect(refused.status).toBe(403);
  const socks = await curlSocks('/socks-denied', `${USER}:${PASSWORD}`);
  expect(socks.code, `SOCKS curl refused by the rule: ${socks.stderr}`).toBe(97);
  expect(origin.requests).not.toContain('GET /http-denied');
  expect(origin.requests).not.toContain('GET /socks-denied');

  // the tester gives the same answer and highlights the rule
  const tester = page.getByTestId('rule-tester');
  await tester.getByLabel('Device address').fill('127.0.0.1');
  await tester.getByLabel('Host').fill('127.0.0.1');
  await tester.getByLabel('Port').fill(String(origin.port));
  await tester.getByRole('button', { name: 'Check' }).click();
  const result = tester.getByTestId('rule-test-result');
  await expect(result).toContainText('Denied');
  await expect(result).toContainText(`by rule 1 “${RULE}”`);
  await expect(rows.first()).toHaveAttribute('data-match', 'true');
  await page.screenshot({ path: `${SHOTS}/13-rules-denied.png`, fullPage: true, animations: 'disabled' });

  // the log names the rule for both refusals
  await expect
    .poll(
      async () => {
        const log = await api<Array<{ url: string; service: string; allowed: boolean; rule: string; user: string }>>('log.recent', { limit: 50 });
        return log
          .filter((r) => !r.allowed && r.rule === RULE)
          .map((r) => r.service)
          .sort();
      },
      { timeout: 15_000 },
    )
    .toEqual(['http', 'socks5']);
  await nav(page, 'Dashboard').click();
  const denied = page.getByTestId('log-row').filter({ hasText: '/http-denied' });
  await expect(denied).toHaveCount(1, { timeout: 15_000 });
  await expect(denied).toHaveClass(/is-denied/);
  await expect(denied.locator('.col-status')).toHaveAttribute('title', new RegExp(`Denied by rule ${RULE}`));

  // moved below "Local network", the rule is shadowed (and says so): allowed again
  await nav(page, 'Rules').click();
  // the list shows a change at once; the switches are disabled until the gateway has it
  const saved = () => expect(rows.first().getByRole('switch')).toBeEnabled();
  await page.getByRole('button', { name: `Move “${RULE}” down` }).click();
  await expect(rows.nth(1)).toHaveAttribute('data-rule', RULE);
  await saved();
  await expect(rows.nth(1)).toContainText('never reach this rule');
  await expect(result).toContainText('The rules changed since this answer');
  expect((await getThroughProxy(httpPort, `http://127.0.0.1:${origin.port}/after-move`)).status).toBe(200);

  // back on top, then switched off: allowed; on again: refused
  await page.getByRole('button', { name: `Move “${RULE}” up` }).click();
  await expect(rows.first()).toHaveAttribute('data-rule', RULE);
  await saved();
  await rows.first().getByRole('switch').click();
  await expect(rows.first()).toHaveClass(/is-off/);
  await saved();
  expect((await getThroughProxy(httpPort, `http://127.0.0.1:${origin.port}/rule-off`)).status).toBe(200);
  await rows.first().getByRole('switch').click();
  await expect(rows.first()).not.toHaveClass(/is-off/);
  await saved();
  expect((await getThroughProxy(httpPort, `http://127.0.0.1:${origin.port}/rule-on`)).status).toBe(403);
});
