// The loopback origin for benchmarks: /small answers 100 bytes, /bulk?mb=N streams N MiB;
// beside it a TCP echo server (for SOCKS sessions). Prints {port, echo} once both listen.
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
const echo = net.createServer((s) => {
  s.on('data', (c) => s.write(c));
  s.on('error', () => {});
});
echo.listen(0, '127.0.0.1', () =>
  server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port, echo: echo.address().port }) + '\n')),
);
process.on('SIGTERM', () => process.exit(0));
