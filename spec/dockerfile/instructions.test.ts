/**
 * toInstructions: the typed, unexpanded Instruction values and the checks
 * BuildKit's instructions/parse.go makes, each error code with its line.
 * Expected messages are BuildKit's wording (read from parse.go / bflag.go);
 * durations were cross-checked with Go 1.19 time.ParseDuration output.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerfileError, parseDockerfile, parseGoDuration, toInstructions } from '../../lib/dockerfile/index.ts';
import type { DockerfileErrorCode, Instruction } from '../../lib/dockerfile/index.ts';

const convert = (text: string): Instruction[] => toInstructions(parseDockerfile(text, 'Dockerfile'), 'Dockerfile');

/** Converts the instruction on the last line of `FROM base\n<line>`. */
function one(line: string): Instruction {
  const all = convert(`FROM base\n${line}\n`);
  const last = all[all.length - 1];
  assert.ok(last);
  return last;
}

/** Column is checked in errors-located.test.ts; here only code, message and lines. */
function fails(text: string, code: DockerfileErrorCode, line: number, message: string, endLine = line): void {
  assert.throws(
    () => convert(text),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError, String(err));
      const { column: _column, ...location } = err.location ?? { file: '', line: 0 };
      assert.deepEqual(
        { code: err.code, message: err.message, location },
        { code, message, location: { file: 'Dockerfile', line, endLine } },
      );
      return true;
    },
  );
}

describe('typed instructions', () => {
  it('FROM with platform and a lower-cased stage name', () => {
    assert.deepEqual(convert('FROM --platform=$BUILDPLATFORM golang:1.22 As Build\n')[0], {
      kind: 'FROM', range: { start: 1, end: 1 }, original: 'FROM --platform=$BUILDPLATFORM golang:1.22 As Build',
      image: 'golang:1.22', stageName: 'build', platform: '$BUILDPLATFORM',
    });
  });
  it('RUN shell and exec forms, flags, heredocs', () => {
    assert.deepEqual(one('RUN --mount=type=cache,target=/c --mount=type=secret,id=s --network=none --security=insecure echo $HOME'), {
      kind: 'RUN', range: { start: 2, end: 2 },
      original: 'RUN --mount=type=cache,target=/c --mount=type=secret,id=s --network=none --security=insecure echo $HOME',
      command: { form: 'shell', script: 'echo $HOME' },
      mounts: ['type=cache,target=/c', 'type=secret,id=s'], network: 'none', security: 'insecure', devices: [], heredocs: [],
      mountSpecs: [
        { raw: 'type=cache,target=/c', mount: { type: 'cache', target: '/c', source: '', readonly: false, id: '/c', sharing: 'shared' } },
        { raw: 'type=secret,id=s', mount: { type: 'secret', id: 's', target: '/run/secrets/s', required: false, mode: 0o400, uid: 0, gid: 0 } },
      ],
    });
    const exec = one('RUN ["echo", "$HOME"]');
    assert.ok(exec.kind === 'RUN');
    assert.deepEqual(exec.command, { form: 'exec', args: ['echo', '$HOME'] });
    const doc = convert('FROM a\nRUN <<EOT bash\necho hi\nEOT\n')[1];
    assert.ok(doc?.kind === 'RUN');
    assert.deepEqual(doc.command, { form: 'shell', script: '<<EOT bash' });
    assert.deepEqual(doc.heredocs, [{ name: 'EOT', content: 'echo hi\n', expand: true, chomp: false, fileDescriptor: 0 }]);
    assert.deepEqual(doc.range, { start: 2, end: 4 });
  });
  it('CMD, ENTRYPOINT and SHELL', () => {
    assert.deepEqual(one('CMD ["a", "b"]'), { kind: 'CMD', range: { start: 2, end: 2 }, original: 'CMD ["a", "b"]', command: { form: 'exec', args: ['a', 'b'] } });
    const ep = one('ENTRYPOINT exec  "$0"  x');
    assert.ok(ep.kind === 'ENTRYPOINT');
    assert.deepEqual(ep.command, { form: 'shell', script: 'exec  "$0"  x' });
    const empty = one('CMD');
    assert.ok(empty.kind === 'CMD');
    assert.deepEqual(empty.command, { form: 'shell', script: '' });
    const shell = one('SHELL ["powershell", "-command"]');
    assert.ok(shell.kind === 'SHELL');
    assert.deepEqual(shell.command, { form: 'exec', args: ['powershell', '-command'] });
  });
  it('ENV and LABEL pairs keep quotes; the legacy form takes the rest of the line', () => {
    const env = one('ENV A="x y" B=$A\\ z');
    assert.ok(env.kind === 'ENV');
    assert.deepEqual(env.pairs, [{ key: 'A', value: '"x y"' }, { key: 'B', value: '$A\\ z' }]);
    const legacy = one('ENV PATH /usr/bin:$PATH  extra');
    assert.ok(legacy.kind === 'ENV');
    assert.deepEqual(legacy.pairs, [{ key: 'PATH', value: '/usr/bin:$PATH  extra' }]);
    const label = one('LABEL "org.x"="1" b=');
    assert.ok(label.kind === 'LABEL');
    assert.deepEqual(label.pairs, [{ key: '"org.x"', value: '"1"' }, { key: 'b', value: '' }]);
  });
  it('COPY and ADD: sources, dest, flags, heredoc sources', () => {
    assert.deepEqual(one('COPY --from=build --chown=1:2 --chmod=755 --link --parents --exclude=*.md --exclude=x a b /dst/'), {
      kind: 'COPY', range: { start: 2, end: 2 },
      original: 'COPY --from=build --chown=1:2 --chmod=755 --link --parents --exclude=*.md --exclude=x a b /dst/',
      sources: ['a', 'b'], dest: '/dst/', heredocs: [], from: 'build', chown: '1:2', chmod: '755', chmodSpec: { kind: 'octal', mode: 0o755 },
      link: true, parents: true, exclude: ['*.md', 'x'],
    });
    const json = one('COPY ["a b", "/c d/"]');
    assert.ok(json.kind === 'COPY');
    assert.deepEqual([json.sources, json.dest, json.link, json.parents], [['a b'], '/c d/', false, false]);
    const add = one('ADD --keep-git-dir=false --unpack --checksum=sha256:abc --link=false https://x/y.tgz /y');
    assert.ok(add.kind === 'ADD');
    assert.deepEqual(
      [add.keepGitDir, add.unpack, add.checksum, add.link, add.sources, add.dest],
      [false, true, 'sha256:abc', false, ['https://x/y.tgz'], '/y'],
    );
    assert.equal(one('ADD a b').kind === 'ADD' && 'unpack' in one('ADD a b'), false);
    const docs = convert('FROM a\nCOPY <<-one src <<"two" /d/\n\t1\none\n2\ntwo\n')[1];
    assert.ok(docs?.kind === 'COPY');
    assert.deepEqual(docs.sources, ['src']);
    assert.deepEqual(docs.heredocs, [
      { name: 'one', content: '\t1\n', expand: true, chomp: true, fileDescriptor: 0 },
      { name: 'two', content: '2\n', expand: false, chomp: false, fileDescriptor: 0 },
    ]);
  });
  it('EXPOSE (sorted like BuildKit), VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER', () => {
    const expose = one('EXPOSE 8080/udp 443 $PORT 80');
    assert.ok(expose.kind === 'EXPOSE');
    assert.deepEqual(expose.ports, ['$PORT', '443', '80', '8080/udp']);
    const vol = one('VOLUME ["/a", "/b c"]');
    assert.ok(vol.kind === 'VOLUME');
    assert.deepEqual(vol.paths, ['/a', '/b c']);
    const user = one('USER app:app');
    assert.ok(user.kind === 'USER');
    assert.equal(user.user, 'app:app');
    const wd = one('WORKDIR /my dir');
    assert.ok(wd.kind === 'WORKDIR');
    assert.equal(wd.path, '/my dir');
    const sig = one('STOPSIGNAL SIGKILL');
    assert.ok(sig.kind === 'STOPSIGNAL');
    assert.equal(sig.signal, 'SIGKILL');
    const m = one('MAINTAINER Jane Doe <j@x>');
    assert.ok(m.kind === 'MAINTAINER');
    assert.equal(m.name, 'Jane Doe <j@x>');
  });
  it('ARG with and without defaults; ARG before FROM is kept in order', () => {
    const [arg, from] = convert('ARG V=1 W "X=a b"\nFROM img:$V\n');
    assert.ok(arg?.kind === 'ARG');
    assert.deepEqual(arg.args, [{ key: 'V', value: '1' }, { key: 'W' }, { key: '"X', value: 'a b"' }]);
    assert.equal(from?.kind, 'FROM');
  });
  it('ONBUILD: raw trigger text (with heredoc bodies) and the parsed trigger', () => {
    const ob = one('ONBUILD  COPY --chown=1 . /app');
    assert.ok(ob.kind === 'ONBUILD');
    assert.equal(ob.trigger, 'COPY --chown=1 . /app');
    assert.ok(ob.instruction.kind === 'COPY');
    assert.equal(ob.instruction.chown, '1');
    assert.equal(ob.instruction.original, 'COPY --chown=1 . /app');
    const doc = convert('FROM a\nONBUILD RUN <<E\nhi\nE\n')[1];
    assert.ok(doc?.kind === 'ONBUILD');
    assert.equal(doc.trigger, 'RUN <<E\nhi\nE');
    assert.ok(doc.instruction.kind === 'RUN');
    assert.equal(doc.instruction.heredocs[0]?.content, 'hi\n');
  });
  it('HEALTHCHECK: NONE, CMD forms, durations in nanoseconds, retries', () => {
    const none = one('HEALTHCHECK none');
    assert.deepEqual(none, { kind: 'HEALTHCHECK', range: { start: 2, end: 2 }, original: 'HEALTHCHECK none', test: 'NONE' });
    assert.deepEqual(one('HEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=250ms --start-interval=0s --retries=3 CMD curl -f x'), {
      kind: 'HEALTHCHECK', range: { start: 2, end: 2 },
      original: 'HEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=250ms --start-interval=0s --retries=3 CMD curl -f x',
      test: 'CMD', command: { form: 'shell', script: 'curl -f x' },
      interval: 90_000_000_000, timeout: 1_500_000_000, startPeriod: 250_000_000, retries: 3,
    });
    const exec = one('HEALTHCHECK cmd ["a"]');
    assert.ok(exec.kind === 'HEALTHCHECK' && exec.test === 'CMD');
    assert.deepEqual(exec.command, { form: 'exec', args: ['a'] });
  });
  it('original is the trimmed logical line', () => {
    const run = convert('FROM a\n  RUN a \\\n   b   \n')[1];
    assert.equal(run?.original, 'RUN a    b');
  });
});

describe('errors, with codes and lines', () => {
  it('INSTRUCTION_UNKNOWN with a suggestion for a near miss', () => {
    fails('FROM a\n\nFORM b\n', 'INSTRUCTION_UNKNOWN', 3, 'unknown instruction: FORM (did you mean FROM?)');
    fails('FROM a\nfrobnicate x\n', 'INSTRUCTION_UNKNOWN', 2, 'unknown instruction: frobnicate');
  });
  it('FLAG_UNKNOWN per instruction', () => {
    fails('FROM a\nCOPY --mode=1 a b\n', 'FLAG_UNKNOWN', 2, 'unknown flag: --mode');
    fails('FROM a\nADD --from=x a b\n', 'FLAG_UNKNOWN', 2, 'unknown flag: --from');
    fails('FROM a\nRUN --mout=type=cache x\n', 'FLAG_UNKNOWN', 2, 'unknown flag: --mout (did you mean mount?)');
    fails('FROM --foo a\n', 'FLAG_UNKNOWN', 1, 'unknown flag: --foo');
    fails('FROM a\nENV --x a=b\n', 'FLAG_UNKNOWN', 2, 'unknown flag: --x');
  });
  it('FLAG_INVALID: values, booleans, repeats, RUN options', () => {
    fails('FROM a\nCOPY --from a b\n', 'FLAG_INVALID', 2, 'missing a value on flag: --from');
    fails('FROM a\nCOPY --link=maybe a b\n', 'FLAG_INVALID', 2, 'expecting boolean value for flag --link, not: maybe');
    fails('FROM a\nCOPY --link= a b\n', 'FLAG_INVALID', 2, 'missing a value on flag: --link');
    fails('FROM a\nCOPY --from=a --from=b a b\n', 'FLAG_INVALID', 2, 'duplicate flag specified: --from');
    fails('FROM a\nRUN --network=bridge x\n', 'FLAG_INVALID', 2, 'invalid network mode "bridge"');
    fails('FROM a\nRUN --security=root x\n', 'FLAG_INVALID', 2, 'security "root" is not valid');
    fails('FROM a\nRUN --mount=type=bind,from=$STAGE,target=/x x\n', 'FLAG_INVALID', 2, "'from' doesn't support variable expansion, define alias stage instead");
    assert.equal(one('RUN --mount=type=bind,from=base$,target=/x x').kind, 'RUN');
  });
  it('INSTRUCTION_INVALID: argument counts and forms', () => {
    fails('FROM a b\n', 'INSTRUCTION_INVALID', 1, 'FROM requires either one or three arguments');
    fails('FROM a AS 1st\n', 'INSTRUCTION_INVALID', 1, 'invalid name for build stage: "1st", name can\'t start with a number or contain symbols');
    fails('FROM a\nCOPY \\\n  onlyone\n', 'INSTRUCTION_INVALID', 2, 'COPY requires at least two arguments, but only one was provided. Destination could not be determined', 3);
    fails('FROM a\nCOPY a <<EOF\nx\nEOF\n', 'INSTRUCTION_INVALID', 2, 'COPY cannot accept a heredoc as a destination', 4);
    fails('FROM a\nENV\n', 'INSTRUCTION_INVALID', 2, 'ENV requires at least one argument');
    fails('FROM a\nLABEL =x\n', 'INSTRUCTION_INVALID', 2, 'LABEL names can not be blank');
    fails('FROM a\nARG =x\n', 'INSTRUCTION_INVALID', 2, 'ARG names can not be blank');
    fails('FROM a\nWORKDIR\n', 'INSTRUCTION_INVALID', 2, 'WORKDIR requires exactly one argument');
    fails('FROM a\nEXPOSE\n', 'INSTRUCTION_INVALID', 2, 'EXPOSE requires at least one argument');
    fails('FROM a\nVOLUME [" "]\n', 'INSTRUCTION_INVALID', 2, 'VOLUME specified can not be an empty string');
    fails('FROM a\nSHELL /bin/bash -c\n', 'INSTRUCTION_INVALID', 2, 'SHELL requires the arguments to be in JSON form');
    fails('FROM a\nSHELL []\n', 'INSTRUCTION_INVALID', 2, 'SHELL requires at least one argument');
    fails('FROM a\nMAINTAINER\n', 'INSTRUCTION_INVALID', 2, 'MAINTAINER requires exactly one argument');
  });
  it('ONBUILD triggers that BuildKit forbids', () => {
    fails('FROM a\nONBUILD ONBUILD RUN x\n', 'INSTRUCTION_INVALID', 2, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
    fails('FROM a\nONBUILD from b\n', 'INSTRUCTION_INVALID', 2, 'FROM isn\'t allowed as an ONBUILD trigger');
    fails('FROM a\nONBUILD MAINTAINER me\n', 'INSTRUCTION_INVALID', 2, 'MAINTAINER isn\'t allowed as an ONBUILD trigger');
    fails('FROM a\nONBUILD\n', 'INSTRUCTION_INVALID', 2, 'ONBUILD requires at least one argument');
  });
  it('HEALTHCHECK checks', () => {
    fails('FROM a\nHEALTHCHECK\n', 'INSTRUCTION_INVALID', 2, 'HEALTHCHECK requires at least one argument');
    fails('FROM a\nHEALTHCHECK NONE x\n', 'INSTRUCTION_INVALID', 2, 'HEALTHCHECK NONE takes no arguments');
    fails('FROM a\nHEALTHCHECK CMD\n', 'INSTRUCTION_INVALID', 2, 'Missing command after HEALTHCHECK CMD');
    fails('FROM a\nHEALTHCHECK connect x\n', 'INSTRUCTION_INVALID', 2, 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)');
    fails('FROM a\nHEALTHCHECK --interval=500us CMD x\n', 'FLAG_INVALID', 2, 'Interval "interval" cannot be less than 1ms');
    fails('FROM a\nHEALTHCHECK --timeout=5 CMD x\n', 'FLAG_INVALID', 2, 'time: missing unit in duration "5"');
    fails('FROM a\nHEALTHCHECK --retries=-1 CMD x\n', 'FLAG_INVALID', 2, '--retries cannot be negative (-1)');
    fails('FROM a\nHEALTHCHECK --retries=x CMD x\n', 'FLAG_INVALID', 2, 'strconv.ParseInt: parsing "x": invalid syntax');
    fails('FROM a\nHEALTHCHECK --intervl=5s CMD x\n', 'FLAG_UNKNOWN', 2, 'unknown flag: --intervl (did you mean interval?)');
  });
});

describe('parseGoDuration', () => {
  const ok: [string, number][] = [
    ['0', 0], ['1ns', 1], ['1.5us', 1500], ['1µs', 1000], ['1μs', 1000], ['2ms', 2e6], ['-1s', -1e9],
    ['+1m', 60e9], ['1h2m3.5s', 3723.5e9], ['.5s', 5e8], ['1.s', 1e9],
  ];
  for (const [input, ns] of ok) it(`${input} = ${ns}ns`, () => assert.equal(parseGoDuration(input), ns));
  for (const bad of ['', '1', 's', '.s', '1x', '-', '1s2', '3000000h']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseGoDuration(bad), /^Error: time: /));
  }
});
