/**
 * UndefinedVar. Positive and negative cases from BuildKit's
 * dockerfile_check_test.go (testUnmatchedVars, testAllTargetUnmarshal) and
 * its dispatcher (convert.go dispatch → reportUnmatchedVariables: declared
 * ARGs never warn, the words checked are the ones instructions expand, all
 * words of one instruction see the variables from before it, a stage FROM
 * another inherits its ARGs and ENV, only stages the target needs are
 * walked); message and URL from linter/ruleset.go; suggestions from
 * util/suggest (Levenshtein < 3, case-sensitive).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCheckDirective } from '../../lib/dockerfile/index.ts';
import { resolveDeferred } from '../../lib/plan/index.ts';
import { plan } from './plan-kit.ts';

const URL = 'https://docs.docker.com/go/dockerfile/rule/undefined-var/';
const found = (text: string, opts: Parameters<typeof plan>[1] = {}) =>
  plan(text, opts).warnings.filter((w) => w.rule === 'UndefinedVar').map((w) => `${w.location.line}: ${w.message}`);

describe('UndefinedVar, BuildKit\'s cases', () => {
  test('a declared ARG without a value does not warn (testUnmatchedVars 1)', () => {
    assert.deepEqual(found('FROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n'), []);
  });

  test('ARGs declared in the base stage are inherited (testUnmatchedVars 2)', () => {
    const p = plan('FROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n');
    assert.deepEqual([p.warnings, p.stages[1]!.deferredWarnings], [[], []]);
    assert.deepEqual(found('FROM scratch AS base\nARG foo=Dockerfile\nENV e=1\nFROM base\nCOPY $foo $e /\n'), []);
  });

  test('RUN text is not expanded by the frontend; PATH is always set (testUnmatchedVars 3)', () => {
    assert.deepEqual(found('FROM scratch\nRUN echo $PATH $nope\nCMD $nope\nENTRYPOINT $nope\nEXPOSE $nope\nWORKDIR $PATH\n'), []);
  });

  test('use before the ARG warns; after it, not (testUnmatchedVars 4)', () => {
    assert.deepEqual(found('FROM scratch\nCOPY $foo .\nARG foo=bar\nCOPY $foo .\n'), ["2: Usage of undefined variable '$foo'"]);
    const w = plan('FROM scratch\nCOPY $foo .\n').warnings[0]!;
    assert.deepEqual([w.rule, w.url, w.location], ['UndefinedVar', URL, { file: 'Dockerfile', line: 2, column: 1 }]);
  });

  test('a near name is suggested (testUnmatchedVars 5 and 6)', () => {
    assert.deepEqual(found('FROM scratch\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n'), [
      "5: Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?)",
    ]);
    assert.deepEqual(found('FROM scratch\nENV PATH=$PAHT:/tmp/bin\n'), ["2: Usage of undefined variable '$PAHT' (did you mean $PATH?)"]);
  });

  test('only stages the target needs are checked (testAllTargetUnmarshal)', () => {
    const DF = 'FROM scratch AS first\nCOPY $foo .\n\nFROM scratch AS second\nCOPY $bar .\n';
    assert.deepEqual(found(DF), ["5: Usage of undefined variable '$bar'"]);
    assert.deepEqual(found(DF, { target: 'first' }), ["2: Usage of undefined variable '$foo'"]);
  });
});

describe('UndefinedVar, kiln\'s reading of the dispatcher', () => {
  test('the words checked: ENV/LABEL keys and values, COPY/ADD flags, sources, dest and heredocs, WORKDIR, USER, VOLUME, STOPSIGNAL, RUN mounts, ARG defaults', () => {
    const DF = `FROM scratch
ENV $k1=$v1
LABEL $k2=$v2
COPY --chown=$u1 --chmod=$m1 $s1 $d1
ADD --checksum=$c1 $s2 /d/
WORKDIR /$w1
USER $u2
VOLUME $vol1 /x
STOPSIGNAL $sig1
RUN --mount=type=cache,target=/c/$t1 --mount=type=bind,source=$src1,target=/b true
ARG a1=$def1
COPY <<EOT /f
$h1
EOT
COPY <<'EOT' /g
$quoted
EOT
HEALTHCHECK CMD $no
ONBUILD COPY $no .
`;
    assert.deepEqual(
      plan(DF).warnings.map((w) => `${w.location.line}:${w.message.replace(/Usage of undefined variable '\$(\w+)'.*/, '$1')}`),
      ['2:k1', '2:v1', '3:k2', '3:v2', '4:u1', '4:m1', '4:s1', '4:d1', '5:c1', '5:s2', '6:w1', '7:u2', '8:vol1', '9:sig1', '10:t1', '10:src1', '11:def1', '12:h1'],
    );
  });

  test('every pair of one ENV sees the variables from before it', () => {
    assert.deepEqual(found('FROM scratch\nENV A=1 B=$A\nENV C=$A\n'), ["2: Usage of undefined variable '$A'"]);
  });

  test('${v:-default} still names an unset v, as BuildKit\'s lexer records it', () => {
    assert.deepEqual(found('FROM scratch\nWORKDIR ${dir:-/app}\n'), ["2: Usage of undefined variable '$dir'"]);
  });

  test('an ARG default under a build arg is not expanded, so it does not warn', () => {
    const DF = 'FROM scratch\nARG X=$missing\n';
    assert.deepEqual(found(DF), ["2: Usage of undefined variable '$missing'"]);
    assert.deepEqual(found(DF, { buildArgs: { X: 'given' } }), []);
  });

  test('automatic platform ARGs and global ARGs are variables of a stage only when declared there', () => {
    assert.deepEqual(found('ARG G=1\nFROM scratch\nWORKDIR /$TARGETARCH/$G\n'), ["3: Usage of undefined variable '$TARGETARCH'", "3: Usage of undefined variable '$G'"]);
    assert.deepEqual(found('ARG G=1\nFROM scratch\nARG TARGETARCH G\nWORKDIR /$TARGETARCH/$G\n'), []);
  });

  test('one warning per variable and line', () => {
    assert.deepEqual(found('FROM scratch\nCOPY $a $a/x /\n'), ["2: Usage of undefined variable '$a'"]);
  });

  test('# check=skip=UndefinedVar silences it', () => {
    assert.deepEqual(found('FROM scratch\nCOPY $a /\n', { check: parseCheckDirective('skip=UndefinedVar') }), []);
    assert.deepEqual(found('FROM scratch\nCOPY $a /\n', { check: parseCheckDirective('skip=all') }), []);
    assert.equal(found('FROM scratch\nCOPY $a /\n', { check: parseCheckDirective('skip=JSONArgsRecommended') }).length, 1);
  });

  test('on an image, findings wait for the image\'s ENV: resolveDeferred drops what it defines', () => {
    const p = plan('FROM golang AS build\nWORKDIR $GOPATH/src\nFROM build\nCOPY $GOPAHT/bin $nope /\n');
    assert.deepEqual(p.warnings, []);
    assert.deepEqual(p.stages[0]!.deferredWarnings.map((d) => d.name), ['GOPATH']);
    assert.deepEqual(resolveDeferred(p.stages[0]!.deferredWarnings, ['PATH', 'GOPATH']), []);
    assert.deepEqual(resolveDeferred(p.stages[0]!.deferredWarnings, ['PATH']).map((w) => [w.location.line, w.message]), [[2, "Usage of undefined variable '$GOPATH' (did you mean $PATH?)"]]);
    const child = resolveDeferred(p.stages[1]!.deferredWarnings, ['PATH', 'GOPATH']);
    assert.deepEqual(child.map((w) => w.message), ["Usage of undefined variable '$GOPAHT' (did you mean $GOPATH?)", "Usage of undefined variable '$nope'"]);
  });
});

describe('UndefinedArgInFrom', () => {
  test('a FROM variable that is neither a global ARG nor automatic warns, with a suggestion', () => {
    const p = plan('ARG VERSION=1\nFROM alpine:${VERSIN:-3}\nFROM --platform=$BUILDPLATFORM alpine:$VERSION\n');
    assert.deepEqual(p.warnings.map((w) => [w.rule, w.location.line, w.message]), [
      ['UndefinedArgInFrom', 2, "FROM argument 'VERSIN' is not declared (did you mean VERSION?)"],
    ]);
  });

  test('a global ARG without a value is declared', () => {
    assert.deepEqual(plan('ARG TAG\nFROM alpine${TAG:+:$TAG}\n').warnings, []);
  });
});
