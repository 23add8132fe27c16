// Accepted sockets that read through the shared buffer (main/net/shared-reads.ts),
// driven over real loopback sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { sharedReads } from '../../main/net/shared-reads.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A loopback server whose accepted sockets read through the shared buffer; returns the pair. */
async function pair(): Promise<{ server: net.Server; accepted: net.Socket; client: net.Socket; close: () => Promise<void> }> {
  let shared = false;
  const server = net.createServer({ allowHalfOpen: true });
  const acceptedP = new Promise<net.Socket>((resolve) =>
    server.once('connection', (s: net.Socket) => {
      shared = sharedReads(s);
      resolve(s);
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const accepted = await acceptedP;
  accepted.on('error', () => {});
  // every test below is about the shared mode: it must be on, not node's default in its place
  assert.equal(shared, true, 'this node offers what shared reads need');
  return {
    server,
    accepted,
    client,
    close: async () => {
      client.destroy();
      accepted.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A deterministic pattern, so reordered or lost bytes show. */
const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 255));

test('bytes arrive whole and in order as data events, then end; bytesRead counts them', async () => {
  const p = await pair();
  try {
    const chunks: Buffer[] = [];
    p.accepted.on('data', (c: Buffer) => chunks.push(c));
    const body = pattern(300_000);
    p.client.end(body);
    await once(p.accepted, 'end');
    assert.ok(Buffer.concat(chunks).equals(body));
    assert.equal(p.accepted.bytesRead, body.length);
    // each chunk is a copy: a later read did not overwrite an earlier one
    assert.ok(chunks.length > 1);
  } finally {
    await p.close();
  }
});

test('a paused socket still notices that its peer reset the connection', async () => {
  const p = await pair();
  try {
    p.accepted.on('data', () => {});
    p.accepted.pause();
    let error = '';
    p.accepted.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    const closed = new Promise((resolve) => p.accepted.once('close', resolve));
    p.client.resetAndDestroy();
    const hadError = await Promise.race([closed, sleep(3000).then(() => 'timeout')]);
    assert.equal(hadError, true, 'the paused socket closed with the reset');
    assert.equal(error, 'ECONNRESET');
  } finally {
    await p.close();
  }
});

test('a paused socket reads ahead only a bounded amount; on resume every byte arrives in order', async () => {
  const p = await pair();
  try {
    const chunks: Buffer[] = [];
    p.accepted.on('data', (c: Buffer) => chunks.push(c));
    p.accepted.pause();
    const body = pattern(4 * 1024 * 1024);
    p.client.end(body);
    await sleep(300);
    assert.equal(chunks.length, 0, 'nothing is delivered while paused');
    // read ahead stops once the readable queue is full (its high-water mark) plus at most one read
    const bound = p.accepted.readableHighWaterMark + 64 * 1024;
    assert.ok(p.accepted.readableLength <= bound, `queued ${p.accepted.readableLength} bytes while paused`);
    assert.ok(p.accepted.bytesRead < body.length, 'the rest waits in the kernel');
    const ended = once(p.accepted, 'end');
    p.accepted.resume();
    await ended;
    assert.ok(Buffer.concat(chunks).equals(body));
  } finally {
    await p.close();
  }
});

test('pausing and resuming mid-stream keeps the order', async () => {
  const p = await pair();
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    p.accepted.on('data', (c: Buffer) => {
      chunks.push(c);
      // pause after every third chunk, for a moment
      if (++n % 3 === 0) {
        p.accepted.pause();
        setTimeout(() => p.accepted.resume(), 5);
      }
    });
    const body = pattern(2 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 50_000) p.client.write(body.subarray(i, i + 50_000));
    p.client.end();
    await once(p.accepted, 'end');
    assert.ok(Buffer.concat(chunks).equals(body));
  } finally {
    await p.close();
  }
});

test('with an encoding set, data comes as decoded strings, as without shared reads', async () => {
  const p = await pair();
  try {
    p.accepted.setEncoding('utf8');
    let text = '';
    p.accepted.on('data', (c: string) => {
      assert.equal(typeof c, 'string');
      text += c;
    });
    const body = 'grüße, '.repeat(20_000);
    p.client.end(body);
    await once(p.accepted, 'end');
    assert.equal(text, body);
  } finally {
    await p.close();
  }
});

test('piped into a slow writable, every byte arrives in order', async () => {
  const p = await pair();
  try {
    const { Writable } = await import('node:stream');
    const got: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        got.push(chunk);
        setImmediate(cb);
      },
    });
    const body = pattern(1024 * 1024);
    p.accepted.pipe(slow);
    p.client.end(body);
    await once(slow, 'finish');
    assert.ok(Buffer.concat(got).equals(body));
  } finally {
    await p.close();
  }
});

test('a socket that is not connected, or already set up, is left as it is', async () => {
  const lone = new net.Socket();
  assert.equal(sharedReads(lone), false);
  lone.destroy();
  const p = await pair();
  try {
    assert.equal(sharedReads(p.accepted), false, 'a second call changes nothing');
  } finally {
    await p.close();
  }
});

test('GATEHOUSE_SHARED_READS=0 leaves accepted sockets to node', async () => {
  const mod = fileURLToPath(new URL('../../main/net/shared-reads.ts', import.meta.url));
  const script = `
    import net from 'node:net';
    import { sharedReads } from ${JSON.stringify(mod)};
    const server = net.createServer((s) => { console.log(sharedReads(s)); s.destroy(); server.close(); });
    server.listen(0, '127.0.0.1', () => net.connect(server.address().port, '127.0.0.1').on('error', () => {}));
  `;
  const run = (value: string) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, GATEHOUSE_SHARED_READS: value }, timeout: 20_000 });
  assert.equal((await run('0')).stdout.trim(), 'false');
  assert.equal((await run('1')).stdout.trim(), 'true');
});
