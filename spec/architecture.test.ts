/**
 * Pins the module map of ../shared/DESIGN.md: every import edge between
 * lib/ modules must be allowed by its table; cli/ imports only lib/index.ts;
 * only build.ts imports executor/. Change the table and this test together.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const top = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// folder → modules it may import (DESIGN.md "Module map"). `errors` holds the
// KilnError base class every family derives from, so every module may import it.
const ALLOWED: Record<string, readonly string[]> = {
  errors: [],
  digest: ['errors'],
  oci: ['digest'],
  ref: ['digest'],
  archive: ['digest'],
  content: ['oci', 'digest'],
  image: ['content', 'oci', 'archive', 'digest'],
  vfs: ['archive', 'digest'],
  dockerfile: ['errors'],
  plan: ['dockerfile', 'ref', 'oci'],
  registry: ['oci', 'ref', 'digest'],
  executor: ['plan', 'dockerfile', 'vfs', 'image', 'content', 'oci', 'ref'],
  sandbox: ['vfs', 'errors'],
  transport: ['image', 'registry', 'content', 'archive', 'oci', 'ref', 'digest'],
  build: ['*'],
  index: ['*'],
};

// npm packages, by the only modules that may use them (tar-stream is a dev
// dependency: a second tar implementation the tests cross-check against).
const PACKAGES: Record<string, readonly string[]> = {
  undici: ['registry'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function moduleOf(file: string): string {
  const rel = relative(join(top, 'lib'), file).split('/');
  return rel.length === 1 ? rel[0]!.replace(/\.ts$/, '') : rel[0]!;
}

function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
  return [...src.matchAll(re)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

function violations(): string[] {
  const out: string[] = [];
  for (const file of files(join(top, 'lib'))) {
    const from = moduleOf(file);
    const allowed = ALLOWED[from];
    if (allowed === undefined) {
      out.push(`${relative(top, file)}: module "${from}" is not in the design table`);
      continue;
    }
    for (const spec of importsOf(file)) {
      if (spec.startsWith('node:')) continue;
      if (!spec.startsWith('.')) {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        const users = PACKAGES[pkg];
        if (!users?.includes(from)) out.push(`${relative(top, file)}: package "${pkg}" is not allowed in ${from}/`);
        continue;
      }
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(join(top, 'lib'))) {
        out.push(`${relative(top, file)}: imports ${spec}, outside lib/`);
        continue;
      }
      const to = moduleOf(target);
      if (to === from || to === 'errors' || allowed.includes('*') || allowed.includes(to)) {
        if (to === 'executor' && from !== 'build' && from !== 'executor') out.push(`${relative(top, file)}: only build.ts may import executor/`);
        continue;
      }
      out.push(`${relative(top, file)}: ${from}/ may not import ${to}/ (${spec})`);
    }
  }
  for (const file of files(join(top, 'cli'))) {
    for (const spec of importsOf(file)) {
      if (spec.startsWith('node:')) continue;
      const target = spec.startsWith('.') ? relative(top, resolve(dirname(file), spec)) : spec;
      if (target !== 'lib/index.ts' && !target.startsWith('cli/')) out.push(`${relative(top, file)}: cli/ may import only lib/index.ts, not ${spec}`);
    }
  }
  return out;
}

test('every import edge in lib/ and cli/ is allowed by DESIGN.md', () => {
  assert.deepEqual(violations(), []);
});

test('the checker sees imports (it can fail)', () => {
  assert.ok(importsOf(join(top, 'lib/digest/hash.ts')).includes('./digest.ts'));
  assert.equal(moduleOf(join(top, 'lib/vfs/tree.ts')), 'vfs');
  assert.equal(moduleOf(join(top, 'lib/build.ts')), 'build');
});
