// The SOCKS load generator (runs on its own core): sessions of connect, SOCKS5
// handshake (when a proxy is given), a small request, its answer and close,
// for a fixed time with a fixed number in flight. Prints {sessions, seconds}.
import net from 'node:net';

const [, , mode, targetPort, originPort, inflightArg, secondsArg] = process.argv;
const inflight = Number(inflightArg);
const seconds = Number(secondsArg);
const port = Number(targetPort);
const oport = Number(originPort);
const request = Buffer.concat([Buffer.from([5, 1, 0, 1, 127, 0, 0, 1]), Buffer.from([oport >> 8, oport & 255])]);
const ping = Buffer.from('ping\n');
let done = 0;
let failed = 0;
const until = Date.now() + seconds * 1000;

function session() {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let stage = mode === 'socks' ? 0 : 2;
    let buf = Buffer.alloc(0);
    const finish = (ok) => {
      if (ok) done++;
      else failed++;
      s.destroy();
      resolve();
    };
    s.on('error', () => finish(false));
    s.on('connect', () => {
      if (stage === 0) s.write(Buffer.from([5, 1, 0]));
      else s.write(ping);
    });
    s.on('data', (c) => {
      buf = buf.length ? Buffer.concat([buf, c]) : c;
      if (stage === 0 && buf.length >= 2) {
        buf = buf.subarray(2);
        stage = 1;
        s.write(request);
      }
      if (stage === 1 && buf.length >= 10) {
        if (buf[1] !== 0) return finish(false);
        buf = buf.subarray(10);
        stage = 2;
        s.write(ping);
      }
      if (stage === 2 && buf.includes(10)) finish(true);
    });
  });
}

async function worker() {
  while (Date.now() < until) await session();
}
const t0 = Date.now();
await Promise.all(Array.from({ length: inflight }, worker));
process.stdout.write(JSON.stringify({ sessions: done, failed, seconds: (Date.now() - t0) / 1000 }) + '\n');
