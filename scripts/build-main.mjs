// Bundles the Node side with esbuild: the CLI (dist/gatehouse.js, run by plain
// Node and resolving better-sqlite3 from the root node_modules), the Electron
// main process (app/dist/main/index.js, ESM) and its preload (app/dist/preload/index.cjs,
// CJS so it runs in a sandboxed renderer), and the log's two worker threads beside both
// bundles. electron and better-sqlite3 stay external.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  external: ['electron', 'better-sqlite3'],
  logLevel: 'warning',
  // ESM bundles of CJS dependencies need a require()
  banner: { js: "import { createRequire as __ghCreateRequire } from 'node:module'; const require = __ghCreateRequire(import.meta.url);" },
};

await Promise.all([
  build({ ...common, format: 'esm', entryPoints: ['main/cli.ts'], outfile: 'dist/gatehouse.js',
    banner: { js: '#!/usr/bin/env -S node --max-semi-space-size=4\n' + common.banner.js } }),
  build({ ...common, format: 'esm', entryPoints: ['main/electron/main.ts'], outfile: 'app/dist/main/index.js' }),
  build({ ...common, format: 'cjs', banner: {}, entryPoints: ['main/electron/preload.ts'], outfile: 'app/dist/preload/index.cjs' }),
  // the log's writing and reading threads, next to each bundle that starts them (main/storage/spawn-worker.ts)
  ...['dist', 'app/dist/main'].flatMap((dir) =>
    ['log-writer-worker', 'log-reader-worker'].map((name) =>
      build({ ...common, format: 'esm', entryPoints: [`main/storage/${name}.ts`], outfile: `${dir}/${name}.js` }),
    ),
  ),
]);
await chmod('dist/gatehouse.js', 0o755);
