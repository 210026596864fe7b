// How the `kiln` command loads its TypeScript. The first run bundles
// cli/main.ts and everything it imports into one CommonJS file next to it
// (cli/.main.bundle.cjs, with esbuild — the transpiler tsx itself uses — in
// transpile-only mode, npm packages left as imports), then every run loads
// that file directly: one script to parse instead of some two hundred
// modules resolved and transpiled through tsx's loader, which is most of a
// cached rebuild's time. The script is compiled with V8's code cache
// (cli/.main.bundle.v8, written after a run that had none or whose cache V8
// rejected): measured here, `kiln --version` 106 → 70 ms and a cached seed
// rebuild 116 → 100 ms (minima of 21 runs). CommonJS because Node 20 can
// cache the compilation of a script (vm.Script cachedData) but not of an ES
// module. The bundle is remade whenever one of its inputs changed (size or
// mtime, checked against cli/.main.bundle.json). Where the bundle cannot be
// written or loaded (a read-only install), or with KILN_NO_BUNDLE=1, kiln
// runs through tsx as before.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const bundle = join(here, '.main.bundle.cjs');
const codeCache = join(here, '.main.bundle.v8');
const record = join(here, '.main.bundle.json');
const FORMAT = 3;
// Where the bundle's code reads import.meta.url (cli/main.ts does), it gets the bundle's own URL: same folder.
const META_URL = '__kilnBundleUrl';

/** The `main` function of cli/main.ts. */
export async function loadMain() {
  if (process.env.KILN_NO_BUNDLE !== '1') {
    try {
      if (!fresh()) await rebuild();
      return loadBundle();
    } catch {
      // fall through to tsx
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return (await import('./main.ts')).main;
}

/** The bundle run as a CommonJS module from its code cache; the `main` it exports, which refreshes the cache after its first run. */
function loadBundle() {
  let cachedData;
  try {
    cachedData = readFileSync(codeCache);
  } catch {
    // none yet
  }
  const script = new Script(Module.wrap(readFileSync(bundle, 'utf8')), {
    filename: bundle,
    cachedData,
  });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(bundle), module, bundle, here);
  const main = module.exports.main;
  if (typeof main !== 'function') throw new Error('the bundle exports no main');
  if (cachedData !== undefined && !script.cachedDataRejected) return main;
  return async (argv) => {
    try {
      return await main(argv);
    } finally {
      // After the run, so the functions it compiled are in the cache too; best effort.
      writeAtomically(codeCache, script.createCachedData());
    }
  };
}

function writeAtomically(file, data) {
  const tmp = `${file}.${process.pid}-${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch {
    rmSync(tmp, { force: true });
  }
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
    format: 'cjs',
    target: 'node20',
    define: { 'import.meta.url': META_URL },
    // `import()` (undici, loaded on the first request) becomes require(): a script compiled from a
    // code cache has no dynamic-import hook on Node 20 (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).
    supported: { 'dynamic-import': false },
    banner: { js: `const ${META_URL} = require('node:url').pathToFileURL(__filename).href;` },
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
  // The code first (its old code cache is dropped: V8 would reject it anyway), then the record that says it is current.
  rmSync(codeCache, { force: true });
  write(bundle, result.outputFiles[0].contents);
  write(record, `${JSON.stringify({ format: FORMAT, inputs: Object.fromEntries(Object.entries(inputs).map(([p, s]) => [relative(root, join(root, p)), s])) })}\n`);
}
