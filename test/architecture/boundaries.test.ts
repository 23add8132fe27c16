/**
 * The architecture as data: which part of Gatehouse may import which. Every
 * .ts/.tsx file under main/ and renderer/ is parsed (TypeScript's own parser,
 * so comments and strings never count) and each of its imports of our code is
 * checked against the table below: static `import … from` (type-only too),
 * `import './x'`, `export … from`, dynamic `import()`, `import('x').T` in
 * types, and `require()`. A failure names the file, the line, the import, and
 * the rule it breaks.
 *
 * Packages are not checked here, except that only main/electron/ may import
 * electron: that rule, and the preload's, are test/electron/boundaries.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

// ---------------------------------------------------------------------------------------------
// The table. Change the architecture here, and only here.

type Part =
  | 'contract'
  | 'logger'
  | 'v8-flags'
  | 'policy'
  | 'storage'
  | 'net'
  | 'recorder'
  | 'engines'
  | 'gateway'
  | 'control'
  | 'live'
  | 'runtime'
  | 'cli'
  | 'electron'
  | 'renderer';

/** Which part a file belongs to: the first pattern its path (from the repository root) matches. */
const PARTS: ReadonlyArray<readonly [Part, RegExp]> = [
  ['contract', /^main\/contract\//],
  ['control', /^main\/control\//],
  ['engines', /^main\/engines\//],
  ['net', /^main\/net\//],
  ['policy', /^main\/policy\//],
  ['storage', /^main\/storage\//],
  ['electron', /^main\/electron\//],
  ['cli', /^main\/(cli\.ts$|cli-[^/]+$|cli\/)/],
  ['runtime', /^main\/runtime\.ts$/],
  ['live', /^main\/live\.ts$/],
  ['gateway', /^main\/gateway\.ts$/],
  ['recorder', /^main\/recorder\.ts$/],
  ['logger', /^main\/logger\.ts$/],
  ['v8-flags', /^main\/v8-flags\.ts$/],
  ['renderer', /^renderer\//],
];

/**
 * The allowed arrows: each part and what it may import besides its own files. An entry is a
 * part, or one file of another part (the rest of that part stays out of reach). `why` is the
 * rule in words, shown when an import breaks it.
 */
const ALLOWED: Record<Part, { may: readonly string[]; why: string }> = {
  contract: {
    may: [],
    why: 'the contract (API schemas, types, the checks every side shares) is imported by everything, the renderer included; it imports nothing of ours, or it would drag that into the renderer and into every other part',
  },
  logger: { may: [], why: 'the logger is a leaf that every part may be given' },
  'v8-flags': { may: [], why: 'the V8 flags are a leaf that the entry points load first' },
  policy: {
    may: ['contract'],
    why: 'policy decides from what it is given (settings, rules, accounts); it stores nothing and reads no storage. Syntax it shares with storage (rule checks) lives in the contract',
  },
  storage: {
    may: ['contract', 'logger'],
    why: 'storage keeps data in the shapes of the contract and decides nothing: no policy, no engines, no control. A check it must run before writing belongs to the contract (e.g. contract/rule-check.ts); a logger, if any, is handed to it',
  },
  net: {
    may: ['contract', 'main/policy/limits.ts'],
    why: 'net dials, resolves and relays; the only other thing it knows is the rate limiter it relays through (policy/limits.ts)',
  },
  recorder: {
    may: ['contract'],
    why: 'the recorder completes one record per request and hands it on as a contract RowTuple to a sink it is given; it knows nothing of where rows are stored',
  },
  engines: {
    may: ['contract', 'net', 'policy', 'recorder', 'logger'],
    why: 'engines are mechanism: they ask policy, dial and relay through net, and report to the recorder. They never read storage or call the control service: what they need is passed in',
  },
  gateway: {
    may: ['contract', 'engines', 'net', 'recorder', 'logger'],
    why: 'the Gateway composes the services from the settings and runs their lifecycle; policy, recorder and logger are handed to it',
  },
  live: {
    may: ['contract', 'control', 'gateway', 'engines', 'net', 'policy', 'recorder', 'logger'],
    why: 'live.ts puts together the gateway as it runs in this process and serves the control service as its LiveGateway; it reaches no storage (rules and accounts are handed to it)',
  },
  control: {
    may: ['contract', 'storage', 'policy', 'net', 'recorder', 'logger'],
    why: 'the control service is the one implementation of the API: it reads and writes storage and asks policy, but sees the running gateway only through the interfaces it defines (no engines, gateway or live)',
  },
  runtime: {
    may: ['contract', 'control', 'storage', 'live', 'recorder', 'logger'],
    why: 'runtime.ts wires a whole Gatehouse (data directory, log threads, live gateway, control service, web admin); only the entry points import it',
  },
  cli: {
    may: ['contract', 'control', 'runtime', 'logger', 'v8-flags'],
    why: 'the CLI is a transport of the control service: it parses arguments, calls the API and prints; `serve` starts the runtime. It opens no database of its own',
  },
  electron: {
    may: ['contract', 'control', 'runtime', 'v8-flags'],
    why: 'main/electron/ hosts the runtime in Electron and carries the API over IPC; it is the only part that imports electron',
  },
  renderer: {
    may: ['contract'],
    why: 'the renderer runs in a sandboxed page or a browser and talks to main/ only through the API client: of main/ it imports the contract alone',
  },
};

/** Arrows the table forbids that still exist: reported, but not failed, until their issue is done. */
const PENDING: ReadonlyArray<{ from: Part; to: Part; todo: string }> = [];

// ---------------------------------------------------------------------------------------------

const ROOTS = ['main', 'renderer'];

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = path.posix.join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|tsx|mts|cts)$/.test(name)) out.push(p);
  }
  return out;
}

interface Import {
  specifier: string;
  line: number;
}

/** The module specifiers a file imports, in any of the forms in the header; non-literal ones are skipped. */
function importsOf(file: string, text: string): Import[] {
  const kind = file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const out: Import[] = [];
  const add = (node: ts.Node | undefined) => {
    if (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) {
      out.push({ specifier: node.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The file a relative specifier names (a `.js` specifier names its `.ts`/`.tsx` source). */
function resolve(from: string, specifier: string): string {
  const p = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  const base = p.replace(/\.(js|jsx|mjs|cjs)$/, '');
  const tries = [p, `${base}.ts`, `${base}.tsx`, `${base}.mts`, `${base}.cts`, `${p}/index.ts`, `${p}/index.tsx`];
  return tries.find((f) => existsSync(f) && statSync(f).isFile()) ?? p;
}

function partOf(file: string): Part | null {
  for (const [part, re] of PARTS) if (re.test(file)) return part;
  return null;
}

interface Arrow {
  file: string;
  line: number;
  specifier: string;
  target: string;
  from: Part;
  to: Part | null;
}

function allowed(a: Arrow): boolean {
  if (a.to === a.from) return true;
  const may = ALLOWED[a.from].may;
  return (a.to !== null && may.includes(a.to)) || may.includes(a.target);
}

function show(a: Arrow): string {
  return `  ${a.file}:${a.line} imports '${a.specifier}' (${a.target}, ${a.to ?? 'no part'})`;
}

function mayText(part: Part): string {
  const may = ALLOWED[part].may;
  return may.length === 0 ? 'nothing of ours outside itself' : `only ${may.join(', ')} (and its own files)`;
}

const files = ROOTS.flatMap((r) => sources(r));
const arrows: Arrow[] = [];
for (const file of files) {
  const from = partOf(file);
  if (!from) continue;
  for (const imp of importsOf(file, readFileSync(file, 'utf8'))) {
    if (!imp.specifier.startsWith('.')) continue; // a package: see the header
    const target = resolve(file, imp.specifier);
    arrows.push({ file, line: imp.line, specifier: imp.specifier, target, from, to: partOf(target) });
  }
}

const isPending = (a: Arrow) => PENDING.some((p) => p.from === a.from && p.to === a.to);

test('the import reader sees every form of import, and none in comments or strings', () => {
  const src = [
    "import a from './a.js';",
    "import type { B } from './b.js';",
    "import './c.js';",
    "export { d } from './d.js';",
    "export * from './e.js';",
    "export type { F } from './f.js';",
    "const g = await import('./g.js');",
    "type H = typeof import('./h.js');",
    "type I = import('./i.js').I;",
    "import J = require('./j.js');",
    "const k = require('./k.js');",
    "// import l from './l.js';",
    "/* export * from './m.js'; */",
    "const n = \"import n from './n.js'\";",
    'const o = `import(${"./o.js"})`;',
    'const p = import(somewhere);',
  ].join('\n');
  const found = importsOf('x.ts', src);
  assert.deepEqual(
    found.map((i) => i.specifier),
    ['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js', './g.js', './h.js', './i.js', './j.js', './k.js'],
  );
  assert.deepEqual(found.map((i) => i.line), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.ok(arrows.length > 300, `found ${arrows.length} imports of our own files: is the reader broken?`);
});

test('every source file and every file it imports belongs to a part of the table', () => {
  const homeless = [
    ...files.filter((f) => !partOf(f)).map((f) => `  ${f}`),
    ...arrows.filter((a) => a.to === null).map(show),
  ];
  if (homeless.length) {
    assert.fail(`These belong to no part; add them to PARTS and say in ALLOWED what their part may import:\n${homeless.join('\n')}`);
  }
});

test('the table names only parts, or files that exist', () => {
  const parts = new Set(PARTS.map(([p]) => p));
  for (const [part, rule] of Object.entries(ALLOWED)) {
    assert.ok(parts.has(part as Part), `ALLOWED has "${part}", which PARTS does not define`);
    for (const m of rule.may) {
      assert.ok(parts.has(m as Part) || existsSync(m), `ALLOWED.${part} names "${m}", neither a part nor a file`);
      if (!parts.has(m as Part)) assert.notEqual(partOf(m), part, `ALLOWED.${part} names its own file ${m}`);
    }
  }
});

for (const [part] of PARTS) {
  const rule = ALLOWED[part];
  test(`${part} imports ${mayText(part)}`, () => {
    const wrong = arrows.filter((a) => a.from === part && a.to !== null && !allowed(a) && !isPending(a));
    if (wrong.length) {
      assert.fail(`${part} may import ${mayText(part)}: ${rule.why}.\n${wrong.map(show).join('\n')}`);
    }
  });
}

for (const p of PENDING) {
  test(`${p.from} imports nothing from ${p.to}`, { todo: p.todo }, () => {
    const wrong = arrows.filter((a) => a.from === p.from && a.to === p.to);
    if (wrong.length) {
      assert.fail(`${p.from} may import ${mayText(p.from)}: ${ALLOWED[p.from].why}.\n${wrong.map(show).join('\n')}`);
    }
  });
}
