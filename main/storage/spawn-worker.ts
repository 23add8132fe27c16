/**
 * Starts one of the storage worker threads, from wherever this code runs:
 * bundled (dist/gatehouse.js, app/dist/main/index.js), the worker is the .js
 * bundle built next to it (scripts/build-main.mjs); from source under tsx
 * (tests), it is the .ts module beside this file, loaded through tsx's loader,
 * which a worker does not inherit on Node 20, so a small bootstrap registers it.
 */
import { Worker } from 'node:worker_threads';

export type WorkerName = 'log-writer-worker' | 'log-reader-worker';

export function spawnWorker(name: WorkerName, workerData: unknown): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  let url = new URL(`./${name}${fromSource ? '.ts' : '.js'}`, import.meta.url);
  // packaged: the worker bundles are unpacked beside the archive (electron-builder.yml asarUnpack)
  if (url.pathname.includes('/app.asar/')) url = new URL(url.href.replace('/app.asar/', '/app.asar.unpacked/'));
  if (!fromSource) return new Worker(url, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
