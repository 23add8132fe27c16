/**
 * What the tray says and offers for each gateway state (main/electron/tray-model.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceStatus, Status } from '../../main/contract/index.js';
import { trayModel } from '../../main/electron/tray-model.js';

const http = (over: Partial<ServiceStatus> = {}): ServiceStatus => ({
  name: 'http',
  label: 'HTTP proxy',
  state: 'running',
  addresses: ['0.0.0.0:8080'],
  port: 8080,
  error: null,
  ...over,
});

const status = (over: Partial<Status> = {}): Status => ({
  version: '0.1.0',
  sharing: true,
  services: [http()],
  lanAddresses: ['192.168.1.20', '10.0.0.5'],
  admin: { url: null },
  dataDir: '/tmp/gh',
  startedAt: 0,
  activeConnections: 0,
  totalRequests: 0,
  ...over,
});

test('while sharing runs, the tray shows the address LAN clients use and offers to disable it', () => {
  const m = trayModel(status());
  assert.equal(m.statusLine, 'Sharing on 192.168.1.20:8080');
  assert.equal(m.tooltip, 'Gatehouse — Sharing on 192.168.1.20:8080');
  assert.deepEqual(m.toggle, { label: 'Disable sharing', enabled: true, enable: false });
  assert.equal(m.active, true);
});

test('with sharing off, the tray says so, uses the grey icon and offers to enable it', () => {
  const m = trayModel(status({ sharing: false, services: [http({ state: 'stopped', port: null })] }));
  assert.equal(m.statusLine, 'Sharing is off');
  assert.deepEqual(m.toggle, { label: 'Enable sharing', enabled: true, enable: true });
  assert.equal(m.active, false);
});

test('before the first status arrives the switch is disabled', () => {
  const m = trayModel(null);
  assert.equal(m.statusLine, 'Starting…');
  assert.equal(m.toggle.enabled, false);
  assert.equal(m.active, false);
});

test('a failed service is named with its error, clipped to fit a menu', () => {
  const long = 'listen EADDRINUSE: address already in use 0.0.0.0:8080 — another program holds this port';
  const m = trayModel(status({ services: [http({ state: 'error', port: null, error: long })] }));
  assert.match(m.statusLine, /^HTTP proxy failed: listen EADDRINUSE/);
  assert.ok(m.statusLine.length <= 'HTTP proxy failed: '.length + 60, m.statusLine);
  assert.ok(m.statusLine.endsWith('…'));
  assert.equal(m.active, false);
  assert.equal(m.toggle.label, 'Disable sharing');
});

test('while a toggle is pending the switch says what it is doing and cannot be pressed again', () => {
  assert.deepEqual(trayModel(status({ sharing: false }), true).toggle, { label: 'Enabling sharing…', enabled: false, enable: true });
  assert.deepEqual(trayModel(status(), false).toggle, { label: 'Disabling sharing…', enabled: false, enable: false });
});

test('without a LAN address the tray still gives the port, and IPv6 addresses are bracketed', () => {
  assert.equal(trayModel(status({ lanAddresses: [] })).statusLine, 'Sharing on port 8080 (no LAN address found)');
  assert.equal(trayModel(status({ lanAddresses: ['fd00::20'] })).statusLine, 'Sharing on [fd00::20]:8080');
});

test('a service still starting shows as starting', () => {
  assert.equal(trayModel(status({ services: [http({ state: 'starting', port: null })] })).statusLine, 'Sharing is starting…');
});
