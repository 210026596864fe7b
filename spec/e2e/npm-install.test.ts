/** `npm i -g` of the packed package gives a working `kiln` (dependencies from the npm cache or registry). */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, TOP, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-npm-');
after(() => tmp.cleanup());

test('npm pack + npm i -g installs a kiln that builds', () => {
  run('npm', ['pack', '--silent', '--pack-destination', tmp.dir], { cwd: TOP });
  const tgz = readdirSync(tmp.dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz, 'npm pack made a tarball');
  const prefix = join(tmp.dir, 'prefix');
  run('npm', ['install', '--global', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, join(tmp.dir, tgz!)], { cwd: tmp.dir });
  const kiln = join(prefix, 'bin', 'kiln');
  const pkg = JSON.parse(readFileSync(join(TOP, 'package.json'), 'utf8')) as { version: string };
  assert.equal(run(kiln, ['--version'], { cwd: tmp.dir }).trim(), `kiln version ${pkg.version}`);
  const env = { ...process.env, KILN_HOME: join(tmp.dir, 'home') };
  const id = run('env', [`KILN_HOME=${env.KILN_HOME}`, kiln, 'build', '-q', '-t', 'npm-test:1', join(TOP, 'testdata', 'demo', 'hello-site')], { cwd: tmp.dir }).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const images = run('env', [`KILN_HOME=${env.KILN_HOME}`, kiln, 'images'], { cwd: tmp.dir });
  assert.match(images, new RegExp(`^npm-test\\s+1\\s+${id.slice(7, 19)}\\s`, 'm'));
});
