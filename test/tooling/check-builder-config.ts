// Checks electron-builder.yml offline: electron-builder's JSON schema (ajv),
// electron-builder's own validator, and the files the config relies on.
// Usage: node --import tsx test/tooling/check-builder-config.ts  (npm run check:builder)
import { allProblems } from './builder-config.js';

const problems = await allProblems();
if (problems.length > 0) {
  console.error(`electron-builder config: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log('electron-builder config OK (schema, electron-builder validation, referenced files)');
