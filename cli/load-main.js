// How the `kiln` command loads its TypeScript. The first run bundles
// cli/main.ts and everything it imports into one ES module next to it
// (cli/.main.bundle.mjs, with esbuild — the transpiler tsx itself uses — in
// transpile-only mode, npm packages left as imports), then every run loads
// that file directly: one module to parse instead of some two hundred
// resolved and transpiled through tsx's loader, which is most of a cached
// rebuild's time. The bundle is remade whenever one of its inputs changed
// (size or mtime, checked against cli/.main.bundle.json). Where the bundle
// cannot be written or loaded (a read-only install), or with
// KILN_NO_BUNDLE=1, kiln runs through tsx as before.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const bundle = join(here, '.main.bundle.mjs');
const record = join(here, '.main.bundle.json');
const FORMAT = 1;

/** The `main` function of cli/main.ts. */
export async function loadMain() {
  if (process.env.KILN_NO_BUNDLE !== '1') {
    try {
      if (!fresh()) await rebuild();
      return (await import(pathToFileURL(bundle).href)).main;
    } catch {
      // fall through to tsx
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return (await import('./main.ts')).main;
}

function stamp(path) {
  const st = statSync(join(root, path));
  return `${st.size}:${st.mtimeMs}`;
}

function fresh() {
  let saved;
  try {
    saved = JSON.parse(readFileSync(record, 'utf8'));
  } catch {
    return false;
  }
  if (saved.format !== FORMAT) return false;
  try {
    for (const [path, s] of Object.entries(saved.inputs)) if (stamp(path) !== s) return false;
  } catch {
    return false;
  }
  return true;
}

async function rebuild() {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(here, 'main.ts')],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: bundle,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = {};
  for (const path of Object.keys(result.metafile.inputs)) inputs[path] = stamp(path);
  const tag = `${process.pid}-${Date.now()}`;
  mkdirSync(here, { recursive: true });
  const write = (file, data) => {
    const tmp = `${file}.${tag}.tmp`;
    try {
      writeFileSync(tmp, data);
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  };
  // The code first, then the record that says it is current.
  write(bundle, result.outputFiles[0].contents);
  write(record, `${JSON.stringify({ format: FORMAT, inputs: Object.fromEntries(Object.entries(inputs).map(([p, s]) => [relative(root, join(root, p)), s])) })}\n`);
}
