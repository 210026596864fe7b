/**
 * --chmod values: parsing (BuildKit's convert_copy.go rules and messages)
 * and the mode a symbolic spec yields. The independent check is GNU chmod:
 * for every spec × start mode × file/dir, a real file is chmod-ed by
 * `umask 0; chmod -- SPEC` and its resulting mode compared with applyChmod.
 * BuildKit applies symbolic modes with BSD setmode semantics (dchapes-mode,
 * umask 0), which differs from GNU in a few documented places; those cases
 * are excluded from the GNU comparison and asserted separately with the BSD
 * result worked out by hand from setmode(3).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DockerfileError, applyChmod, parseChmod, parseDockerfile, toInstructions } from '../../lib/dockerfile/index.ts';

describe('parseChmod', () => {
  it('octal values up to 07777', () => {
    for (const [text, mode] of [['755', 0o755], ['0644', 0o644], ['00640', 0o640], ['0', 0], ['7777', 0o7777], ['4755', 0o4755]] as const) {
      assert.deepEqual(parseChmod(text), { kind: 'octal', mode });
    }
  });
  it('refuses what BuildKit refuses, with its messages', () => {
    const nonOctal = (v: string): string => `invalid chmod parameter: '${v}'. it should be octal string and between 0 and 07777`;
    const syntax = (v: string): string => `invalid chmod parameter: '${v}': invalid syntax`;
    const cases: [string, string][] = [
      ['10000', nonOctal('10000')], ['64a', nonOctal('64a')], ['0x7', nonOctal('0x7')], ['8', nonOctal('8')], ['99999999999', nonOctal('99999999999')],
      ['a', syntax('a')], ['+7', syntax('+7')], ['u+x,', syntax('u+x,')], ['u+q', syntax('u+q')], ['x', syntax('x')], [',', syntax(',')],
      ['u+x g-w', syntax('u+x g-w')],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseChmod(text), (err: unknown) => err instanceof Error && err.message === message, text);
    }
  });
  it('accepts symbolic specs setmode accepts, including empty permission lists', () => {
    for (const text of ['u+x', 'u+', 'a=', '=', '+', 'u+x-w', 'ug+rw,o-rwx', 'o=u', 'u=g+w', 'a+rwxXst']) assert.equal(parseChmod(text).kind, 'symbolic', text);
  });
  it('COPY/ADD keep the raw value and parse a static one; a variable defers parsing', () => {
    const [, copy, add] = toInstructions(parseDockerfile('FROM a\nCOPY --chmod=u+x a /b\nADD --chmod=$M a /b\n'));
    assert.ok(copy?.kind === 'COPY' && add?.kind === 'ADD');
    assert.equal(copy.chmod, 'u+x');
    assert.equal(copy.chmodSpec?.kind, 'symbolic');
    assert.deepEqual([add.chmod, add.chmodSpec], ['$M', undefined]);
    assert.throws(() => toInstructions(parseDockerfile('FROM a\nCOPY --chmod=9 a /b\n')), (err: unknown) => err instanceof DockerfileError && err.code === 'FLAG_INVALID');
  });
});

describe('applyChmod agrees with GNU chmod (umask 0) where BSD and GNU agree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-chmod-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const specs = [
    'u+x', 'g-w', 'o=r', 'a=r', 'u+x,g-w', 'go-rwx', '+x', '-w', '=r', 'a+X', '+X', 'u=rwx,go=rx', 'u=rwx,go=u-w', 'go=', 'g=u',
    'o=g', 'u+s', 'g+s', 'a+s', 'u+rw,g+r,o-rwx', 'ug+x', 'o=u', 'u=o,g=o', 'a+rwx,o-rwx', 'u-x+r', 'g+w-r', 'a=', 'u=g+w',
    'ug=rw,o=', 'go+u', 'u-g', 'u=rwxs', 'a-x', 'g=o-x', 'u+X,g-X',
  ];
  // No setuid/setgid/sticky in the start modes: GNU keeps a directory's set-id bits on `=` and
  // treats special bits under `=`/copies differently from setmode.
  const modes = [0o644, 0o755, 0o600, 0o000, 0o123, 0o777, 0o421, 0o070];
  it(`${specs.length} specs × ${modes.length} modes × file/dir`, () => {
    let n = 0;
    for (const spec of specs) {
      const parsed = parseChmod(spec);
      for (const mode of modes) {
        for (const isDir of [false, true]) {
          const path = join(dir, `p${n++}`);
          if (isDir) mkdirSync(path);
          else writeFileSync(path, '');
          chmodSync(path, mode);
          execFileSync('sh', ['-c', 'umask 0; chmod -- "$0" "$1"', spec, path]);
          const gnu = statSync(path).mode & 0o7777;
          assert.equal(applyChmod(parsed, mode, isDir).toString(8), gnu.toString(8), `${spec} on ${isDir ? 'dir' : 'file'} ${mode.toString(8)}`);
        }
      }
    }
  });
});

describe('where BuildKit (BSD setmode) differs from GNU chmod', () => {
  const apply = (spec: string, mode: number, isDir = false): string => applyChmod(parseChmod(spec), mode, isDir).toString(8);
  it('X looks at the mode before the whole spec, not at the mode reached so far', () => {
    assert.equal(apply('a-x,a+X', 0o750), '751'); // GNU: 640
    assert.equal(apply('=rw,+X', 0o755), '777'); // GNU: 666
    assert.equal(apply('=rw,+X', 0o644), '666');
  });
  it('t applies for u/g/a, not for o alone', () => {
    assert.equal(apply('u+t', 0o644), '1644'); // GNU: 644
    assert.equal(apply('o+t', 0o644), '644'); // GNU: 1644
    assert.equal(apply('+t', 0o644), '1644');
  });
  it('= clears set-id bits of directories too, and keeps the sticky bit unless t is named', () => {
    assert.equal(apply('a=', 0o4755, true), '0'); // GNU: 4000
    assert.equal(apply('a=', 0o1777), '1000'); // GNU: 0
    assert.equal(apply('a=rwxt', 0o644), '1777');
  });
  it('octal replaces the mode, set-id and sticky bits included', () => {
    assert.equal(apply('0750', 0o4777, true), '750');
  });
});
