// npm run bench: every benchmark in turn (the HTTP proxy, SOCKS5, then the request log).
// Each is a separate process, so one's threads and files never skew the other's figures.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const benches = [
  [process.execPath, [join(here, 'run.mjs')]],
  [process.execPath, [join(here, 'socks.mjs')]],
  [process.execPath, ['--import', 'tsx', join(here, 'log.ts')]],
];
let failed = 0;
for (const [cmd, args] of benches) {
  console.log(`\n== ${args[args.length - 1]}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: join(here, '../..') });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
