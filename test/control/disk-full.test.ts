/**
 * A whole gateway on a data directory whose disk fills up (issue 13): proxying
 * goes on, the status says "log paused: disk full" (the dashboard shows it),
 * and a stop ends within its grace period saying how many rows it could not
 * write. Root only: the disk is a small tmpfs the test mounts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRuntime } from '../../main/runtime.js';
import type { Logger } from '../../main/logger.js';
import { startHttpOrigin } from '../helpers/origin.js';
import { cannotMountTmpfs } from '../helpers/tmpfs.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'gh-full-'));
let mounted = false;
after(() => {
  if (mounted) spawnSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

function get(proxyPort: number, url: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.get({ host: '127.0.0.1', port: proxyPort, path: url, headers: { host: u.host }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

test('with the disk full the proxies keep serving, the status says the log is paused, and stop ends in its grace saying what was lost', { skip: cannotMountTmpfs() }, async () => {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mountPoint]);
  assert.equal(r.status, 0, `mount: ${r.stderr}`);
  mounted = true;
  const lines: string[] = [];
  const logger: Logger = {
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
    child: () => logger,
  };
  const origin = await startHttpOrigin();
  const rt = await startRuntime({ dataDir: mountPoint, sharing: 'on', admin: false, overrides: { listen: ['127.0.0.1'], 'http.port': 0, 'socks.port': 0 }, logger, logDelayMs: 20 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const port = rt.status().services.find((s) => s.name === 'http')!.port!;
    // leave the log a little room, then fill it
    const free = Number(spawnSync('df', ['--output=avail', '-B1', mountPoint]).stdout.toString().trim().split('\n').at(-1));
    writeFileSync(join(mountPoint, 'filler'), Buffer.alloc(Math.max(0, free - 64 * 1024)));
    let paused = false;
    let served = 0;
    for (let i = 0; i < 4000 && !paused; i++) {
      const long = 'x'.repeat(1500); // long URLs fill the pages sooner
      if ((await get(port, `${origin.url}/fill/${i}/${long}`, agent)) === 200) served++;
      if (i % 50 === 49) paused = !!rt.status().logPaused;
    }
    assert.ok(paused, 'the log paused');
    assert.match(rt.status().logPaused!.reason, /disk full/);
    assert.equal(await get(port, `${origin.url}/still-serving`, agent), 200, 'proxying goes on');
    assert.equal(lines.filter((l) => l.startsWith('warn log writes failing')).length, 1, `the warning comes once (${lines.filter((l) => /log/.test(l)).join(' | ')})`);
    agent.destroy();
    const start = Date.now();
    await rt.stop(1500);
    assert.ok(Date.now() - start < 8000, `stop took ${Date.now() - start} ms`);
    assert.ok(lines.some((l) => /^error \d+ log rows could not be written \(disk full\)/.test(l)), lines.slice(-5).join(' | '));
    assert.ok(served > 0);
  } finally {
    agent.destroy();
    await rt.stop(0);
    await origin.close();
  }
});
