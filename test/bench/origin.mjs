// The loopback origin for benchmarks: /small answers 100 bytes, /bulk?mb=N streams N MiB;
// beside it TCP echo servers (for SOCKS sessions). Prints {port, echo, echoes} once all listen.
//
// Each SOCKS load run takes an echo port of its own (`echoes`): a run opens tens of
// thousands of connections, each leaving a TIME_WAIT entry for its destination for a
// minute, and once those pile up for one address and port, every connect to it spends
// longer finding a free local port. Real traffic spreads over many destinations.
import http from 'node:http';
import net from 'node:net';

const small = Buffer.alloc(100, 120);
const chunk = Buffer.alloc(1024 * 1024, 97);
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/bulk')) {
    const mb = Number(new URL(req.url, 'http://x').searchParams.get('mb') ?? '256');
    res.writeHead(200, { 'Content-Length': mb * chunk.length, 'Content-Type': 'application/octet-stream' });
    let left = mb;
    const pump = () => {
      while (left > 0) {
        left--;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  res.writeHead(200, { 'Content-Length': small.length, 'Content-Type': 'text/plain' });
  res.end(small);
});
server.keepAliveTimeout = 60000;
const ECHOES = Number(process.env.BENCH_ECHO_PORTS ?? '24');
if (!Number.isInteger(ECHOES) || ECHOES < 1) throw new Error(`BENCH_ECHO_PORTS must be a whole number ≥ 1, not ${process.env.BENCH_ECHO_PORTS}`);
const onEcho = (s) => {
  s.on('data', (c) => s.write(c));
  s.on('error', () => {});
};
const listen = (srv) => new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv.address().port)));
const echoes = [];
for (let i = 0; i < ECHOES; i++) echoes.push(await listen(net.createServer(onEcho)));
const port = await listen(server);
process.stdout.write(JSON.stringify({ port, echo: echoes[0], echoes }) + '\n');
process.on('SIGTERM', () => process.exit(0));
