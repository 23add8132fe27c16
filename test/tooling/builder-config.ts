/**
 * Offline checks of the packaging config, shared by the `check:builder` script
 * and its unit test: electron-builder.yml against electron-builder's own JSON
 * schema (app-builder-lib/scheme.json, validated with ajv), electron-builder's
 * own loader and validator (which also rejects deprecated options), and the
 * files the config relies on (the app directory, its package.json and lockfile,
 * the icon, the bundle that package.json's "main" names).
 * Each check returns a list of problems, each saying what is wrong and where.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv, { type ErrorObject } from 'ajv';

const require = createRequire(import.meta.url);
// js-yaml is electron-builder's own YAML parser (a dependency of app-builder-lib);
// resolving it from there reads the config exactly as electron-builder will.
const appBuilderLib = path.dirname(require.resolve('app-builder-lib/package.json'));
const yaml = createRequire(path.join(appBuilderLib, 'package.json'))('js-yaml') as { load(src: string): unknown };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CONFIG_FILE = 'electron-builder.yml';

export type BuilderConfig = Record<string, unknown>;

export function loadBuilderConfig(file = path.join(ROOT, CONFIG_FILE)): BuilderConfig {
  const doc = yaml.load(readFileSync(file, 'utf8'));
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file}: expected a mapping at the top level`);
  return doc as BuilderConfig;
}

let validate: ReturnType<Ajv['compile']> | null = null;

/** Problems found by electron-builder's JSON schema (the same scheme.json it validates with). */
export function schemaProblems(config: BuilderConfig): string[] {
  if (!validate) {
    const schema = JSON.parse(readFileSync(path.join(appBuilderLib, 'scheme.json'), 'utf8')) as object;
    // strict: false as in electron-builder (the schema uses non-standard keywords);
    // no type coercion, so a quoted "true" is reported instead of silently accepted.
    validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  if (validate(config)) return [];
  return explain(validate.errors ?? []);
}

/**
 * ajv reports every failed branch of every anyOf; keep the errors that point
 * at a specific property (and drop the anyOf summaries when there are some).
 */
function explain(errors: ErrorObject[]): string[] {
  const specific = errors.filter((e) => !['anyOf', 'oneOf', 'if'].includes(e.keyword));
  const chosen = specific.length > 0 ? specific : errors;
  const lines = chosen.map((e) => {
    const where = e.instancePath ? `configuration${e.instancePath.replace(/\//g, '.')}` : 'configuration';
    if (e.keyword === 'additionalProperties') {
      return `${where} has an unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    }
    if (e.keyword === 'enum') {
      return `${where} ${e.message}: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return `${where} ${e.message}`;
  });
  return [...new Set(lines)];
}

/** electron-builder's own loader and validator (schema plus its deprecation checks). */
export async function electronBuilderProblems(projectDir = ROOT, configFile = CONFIG_FILE): Promise<string[]> {
  const { getConfig, validateConfiguration } = (await import('app-builder-lib/out/util/config/config.js')) as typeof import('app-builder-lib/out/util/config/config.js');
  const { DebugLogger, log } = (await import('builder-util')) as typeof import('builder-util');
  // electron-builder logs "• loaded configuration" straight to process.stdout;
  // keep it out (under node:test on Node 20, stray stdout writes from a test
  // file can garble the runner's stream: "Unable to deserialize cloned data").
  const logger = log as unknown as { stream: { write(s: string): unknown } };
  const stream = logger.stream;
  logger.stream = { write: () => true };
  try {
    const config = await getConfig(projectDir, configFile, null);
    await validateConfiguration(config, new DebugLogger(false));
    return [];
  } catch (e) {
    return [(e as Error).message.split('\n  How to fix:')[0]!.trim()];
  } finally {
    logger.stream = stream;
  }
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Width and height of a PNG, from its IHDR chunk; null when the file is not a PNG. */
export function pngSize(file: string): { width: number; height: number } | null {
  const buf = readFileSync(file);
  if (buf.length < 24 || buf.readUInt32BE(0) !== 0x89504e47 || buf.toString('ascii', 12, 16) !== 'IHDR') return null;
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** Problems with the files and fields the config relies on. */
export function fileProblems(config: BuilderConfig, root = ROOT): string[] {
  const problems: string[] = [];
  const dirs = (config.directories ?? {}) as Record<string, string | undefined>;
  const appDir = path.join(root, dirs.app ?? 'app');
  const resources = path.join(root, dirs.buildResources ?? 'build');

  const icon = path.join(resources, 'icon.png');
  if (!existsSync(icon)) problems.push(`${path.relative(root, icon)} is missing (the app icon for every platform)`);
  else {
    const size = pngSize(icon);
    if (!size) problems.push(`${path.relative(root, icon)} is not a PNG`);
    else if (size.width < 512 || size.height < 512 || size.width !== size.height) {
      problems.push(`${path.relative(root, icon)} is ${size.width}x${size.height}; electron-builder needs a square of at least 512x512`);
    }
  }

  const appPkgFile = path.join(appDir, 'package.json');
  const appPkg = readJson(appPkgFile);
  const rootPkg = readJson(path.join(root, 'package.json'));
  if (!appPkg) return [...problems, `${path.relative(root, appPkgFile)} is missing or not JSON`];

  const main = appPkg.main;
  if (typeof main !== 'string' || !/^dist\/main\/[\w.-]+\.(c|m)?js$/.test(main)) {
    problems.push(`app/package.json "main" is ${JSON.stringify(main)}; expected dist/main/<file>.js (inside the packaged "files")`);
  } else {
    const buildScript = readFileSync(path.join(root, 'scripts/build-main.mjs'), 'utf8');
    if (!buildScript.includes(`'app/${main}'`)) {
      problems.push(`app/package.json "main" is "${main}" but scripts/build-main.mjs does not write app/${main}`);
    }
  }
  if (appPkg.type !== 'module') problems.push('app/package.json "type" must be "module": the main bundle is ESM');
  if (appPkg.productName !== config.productName) {
    problems.push(`app/package.json productName ${JSON.stringify(appPkg.productName)} differs from electron-builder.yml's ${JSON.stringify(config.productName)}`);
  }
  if (rootPkg && appPkg.version !== rootPkg.version) {
    problems.push(`app/package.json version ${JSON.stringify(appPkg.version)} differs from package.json's ${JSON.stringify(rootPkg.version)}`);
  }
  const deps = (appPkg.dependencies ?? {}) as Record<string, string>;
  for (const banned of ['electron', 'electron-builder']) {
    if (banned in deps) problems.push(`app/package.json must not depend on ${banned} (electron-builder supplies it)`);
  }
  const rootDev = ((rootPkg?.devDependencies ?? {}) as Record<string, string>)['better-sqlite3'];
  if (deps['better-sqlite3'] !== rootDev) {
    problems.push(`better-sqlite3 is ${JSON.stringify(deps['better-sqlite3'])} in app/package.json but ${JSON.stringify(rootDev)} in package.json; pin the same version`);
  }
  const author = appPkg.author as { email?: string } | string | undefined;
  if (!(typeof author === 'string' ? /<[^>]+@[^>]+>/.test(author) : author?.email)) {
    problems.push('app/package.json needs an author with an email (the deb target requires a maintainer)');
  }

  const lock = readJson(path.join(appDir, 'package-lock.json'));
  const locked = ((lock?.packages as Record<string, { dependencies?: unknown }> | undefined)?.[''] ?? {}).dependencies;
  if (!lock) problems.push('app/package-lock.json is missing: run npm install --prefix app --ignore-scripts --package-lock-only');
  else if (JSON.stringify(locked ?? {}) !== JSON.stringify(deps)) {
    problems.push('app/package-lock.json is out of date with app/package.json: run npm install --prefix app --ignore-scripts --package-lock-only');
  }
  return problems;
}

/** Every check; an empty list means the config is good. */
export async function allProblems(root = ROOT): Promise<string[]> {
  const config = loadBuilderConfig(path.join(root, CONFIG_FILE));
  return [...schemaProblems(config), ...fileProblems(config, root), ...(await electronBuilderProblems(root))];
}
