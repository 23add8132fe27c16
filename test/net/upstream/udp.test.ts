/**
 * SOCKS5 UDP ASSOCIATE through an upstream hop (main/net/upstream/udp.ts) on
 * real sockets: Dante relays datagrams to a loopback UDP echo server;
 * microsocks, which has no UDP, answers "command not supported".
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { associateUdp } from '../../../main/net/upstream/udp.js';
import { HopError } from '../../../main/net/upstream/chain.js';
import { DANTED, MICROSOCKS, have, startDante, startMicrosocks, type Upstream } from '../../helpers/upstreams.js';

const missing = [DANTED, MICROSOCKS].filter((p) => !have(p));
const skip = missing.length ? `not installed: ${missing.join(', ')} (apt-get install dante-server microsocks)` : false;

let dante: Upstream;
let micro: Upstream;
let echo: dgram.Socket;
let echoPort = 0;

before(async () => {
  if (skip) return;
  const r = await Promise.allSettled([startDante(), startMicrosocks()]);
  if (r[0].status === 'fulfilled') dante = r[0].value;
  if (r[1].status === 'fulfilled') micro = r[1].value;
  for (const x of r) if (x.status === 'rejected') throw x.reason;
  echo = dgram.createSocket('udp4');
  echo.on('message', (msg, from) => echo.send(Buffer.concat([Buffer.from('echo:'), msg]), from.port, from.address));
  echo.bind(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = echo.address().port;
});

after(async () => {
  echo?.close();
  await Promise.allSettled([dante?.close(), micro?.close()]);
});

/** The next datagram on `s`, or a failure after ms. */
function nextMessage(s: dgram.Socket, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.removeListener('message', on);
      reject(new Error(`no datagram within ${ms} ms`));
    }, ms);
    const on = (m: Buffer) => {
      clearTimeout(t);
      resolve(m);
    };
    s.once('message', on);
  });
}

test('datagrams go to the destination through the relay Dante opens, and the answers come back unwrapped', { skip, timeout: 30_000 }, async () => {
  const client = dgram.createSocket('udp4');
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  const assoc = await associateUdp({ kind: 'socks5', host: dante.host, port: dante.port }, { timeoutMs: 5000, from: { host: '127.0.0.1', port: client.address().port } });
  try {
    assert.equal(assoc.relay.address, '127.0.0.1');
    assert.ok(assoc.relay.port > 0);
    for (const word of ['one', 'two', 'three']) {
      client.send(assoc.wrap({ host: '127.0.0.1', port: echoPort }, Buffer.from(word)), assoc.relay.port, assoc.relay.address);
      const back = assoc.unwrap(await nextMessage(client, 3000));
      assert.deepEqual(back, { host: '127.0.0.1', port: echoPort, payload: Buffer.from(`echo:${word}`) });
    }
  } finally {
    assoc.close();
    client.close();
  }
  assert.equal(assoc.control.destroyed, true);
});

test('a hop without UDP (microsocks) is HopError phase refused: SOCKS5 reply 0x07 (command not supported)', { skip, timeout: 30_000 }, async () => {
  await assert.rejects(associateUdp({ kind: 'socks5', host: micro.host, port: micro.port }, { timeoutMs: 5000 }), (err: unknown) => {
    assert.ok(err instanceof HopError);
    assert.deepEqual([err.hop, err.phase, err.code], [1, 'refused', 'E_HOP_REFUSED']);
    assert.equal(err.message, `hop 1 (socks5://127.0.0.1:${micro.port}): SOCKS5 reply 0x07 (command not supported) (asked to open a UDP relay)`);
    return true;
  });
});

test('UDP through an HTTP or SOCKS4a hop is refused before connecting', async () => {
  for (const kind of ['http', 'socks4a'] as const) {
    await assert.rejects(associateUdp({ kind, host: '127.0.0.1', port: 9 }, { timeoutMs: 1000 }), (err: unknown) => {
      assert.ok(err instanceof HopError);
      assert.equal(err.code, 'E_HOP_UNSUPPORTED');
      assert.match(err.message, new RegExp(`UDP needs a SOCKS5 hop, this one is ${kind}$`));
      return true;
    });
  }
});
