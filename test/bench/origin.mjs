// The loopback origin for benchmarks: /small answers 100 bytes, /bulk?mb=N streams N MiB.
import http from 'node:http';

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
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
