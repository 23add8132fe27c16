/**
 * When the log's writer is far behind (it runs at low priority and yields to the
 * proxies), the engines take new work only as fast as it writes: waiting rows
 * cannot grow without bound. Here the limit is 0 rows, so every request waits
 * until the row of the one before is on disk, and still gets its answer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { SocksClient } from 'socks';
import { startHttpOrigin, type Origin } from '../helpers/origin.js';
import { startGateway, readLog, type TestGateway } from '../helpers/gateway.js';

let origin: Origin;
let gw: TestGateway;

before(async () => {
  origin = await startHttpOrigin();
  gw = await startGateway({}, { logBacklogMax: 0 });
});

after(async () => {
  await gw.close();
  await origin.close();
});

/** Sends `n` requests one after another on one keep-alive connection; after each answer, the rows on disk. */
async function keepAliveRequests(n: number): Promise<number[]> {
  const s = net.connect(gw.port, '127.0.0.1');
  const onDisk: number[] = [];
  let got = '';
  let wake: (() => void) | null = null;
  s.on('data', (c) => {
    got += c.toString('latin1');
    wake?.();
  });
  const answers = () => (got.match(/^HTTP\/1\.1 200 /gm) ?? []).length;
  try {
    for (let i = 0; i < n; i++) {
      s.write(`GET ${origin.url}/c${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      // the moment the answer is here (no polling delay), count the rows on disk
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`request ${i} was not answered in 5 s`)), 5000);
        wake = () => {
          if (answers() > i) {
            clearTimeout(t);
            resolve();
          }
        };
        wake();
      });
      onDisk.push(readLog(gw.dataDir).filter((r) => r.url.includes('/c')).length);
    }
  } finally {
    s.destroy();
  }
  return onDisk;
}

test('with the log behind, each keep-alive request waits for the rows before it, and is answered', async () => {
  const onDisk = await keepAliveRequests(3);
  // when request i is answered, the rows of requests 0..i-1 are already written
  for (let i = 1; i < onDisk.length; i++) assert.ok(onDisk[i]! >= i, `rows on disk after answer ${i}: ${onDisk[i]}`);
});

test('with the log behind, a new SOCKS session waits for the rows before it, then connects', async () => {
  const socksRows = () => readLog(gw.dataDir).filter((r) => r.service === 'socks5').length;
  const connect = () =>
    SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port: gw.socksPort, type: 5 },
      command: 'connect',
      destination: { host: '127.0.0.1', port: origin.port },
      timeout: 5000,
    });
  const first = await connect();
  const total = gw.rt.status().totalRequests;
  first.socket.destroy();
  // the first session's row is taken (not yet written: the writer waits for its batch delay)
  for (let i = 0; i < 250 && gw.rt.status().totalRequests === total; i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(gw.rt.status().totalRequests > total, 'the first session was recorded');
  const second = await connect();
  // the second session got its reply only once the first one's row was on disk
  const onDisk = socksRows();
  second.socket.destroy();
  assert.ok(onDisk >= 1, `socks rows on disk when the second session connected: ${onDisk}`);
});
