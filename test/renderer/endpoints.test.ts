/**
 * "How to connect a device": the addresses a LAN device is told, IPv6 ones
 * whole (issue 16: fd00::2 was shown as "fd00:"), bracketed in URLs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Status } from '../../main/contract/index.js';
import { proxyEndpoints, urlHost } from '../../renderer/endpoints.js';
import { splitHostPort } from '../../renderer/format.js';

function status(lanAddresses: string[], addresses: string[]): Status {
  return {
    version: '0',
    sharing: true,
    services: [{ name: 'http', label: 'HTTP', state: 'running', addresses, port: 8080, error: null }],
    lanAddresses,
    admin: { url: null },
    dataDir: '/x',
    startedAt: 0,
    activeConnections: 0,
    totalRequests: 0,
  };
}

test('an IPv6 LAN address is given whole, and bracketed where it goes into a URL', () => {
  const eps = proxyEndpoints(status(['192.168.1.10', 'fd00::2', 'fe80::1%eth0'], ['[::]:8080']));
  assert.deepEqual(
    eps.map((e) => e.host),
    ['192.168.1.10', 'fd00::2', 'fe80::1%eth0'],
  );
  assert.equal(urlHost('fd00::2'), '[fd00::2]');
});

test('splitHostPort reads host:port, [v6]:port and a bare address of either family', () => {
  assert.deepEqual(splitHostPort('10.0.0.1:8080'), { host: '10.0.0.1', port: 8080 });
  assert.deepEqual(splitHostPort('[::]:43229'), { host: '::', port: 43229 });
  assert.deepEqual(splitHostPort('fd00::2'), { host: 'fd00::2', port: null });
  assert.deepEqual(splitHostPort('::1'), { host: '::1', port: null });
  assert.deepEqual(splitHostPort('10.0.0.1'), { host: '10.0.0.1', port: null });
});
