/**
 * lintDockerfile: BuildKit's static build checks. Each rule has a case that
 * warns and one that does not. Expected rule names, messages and lines are
 * taken from BuildKit's own integration tests
 * (frontend/dockerfile/dockerfile_check_test.go at 73ed6825), whose
 * Dockerfiles are reused here as vectors, plus cases read from the rule code
 * (linter/ruleset.go, dockerfile2llb/convert.go).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DockerfileError, checkDirectiveOf, lintDockerfile, lintRule, lintViolationMessage, parseCheckDirective, parseDockerfile,
  toInstructions, toInstructionsUntilError,
} from '../../lib/dockerfile/index.ts';
import type { CheckDirective, LintWarning } from '../../lib/dockerfile/index.ts';

function lint(text: string, check?: CheckDirective): LintWarning[] {
  const parsed = parseDockerfile(text, 'Dockerfile');
  return lintDockerfile(parsed, toInstructions(parsed), 'Dockerfile', check === undefined ? {} : { check });
}

/** [rule, line, message] of each warning. */
function brief(text: string, check?: CheckDirective): [string, number, string][] {
  return lint(text, check).map((w) => [w.rule, w.location.line, w.message]);
}

describe('lint rules, one warning and one clean case each', () => {
  it('StageNameCasing and FromAsCasing (testStageName)', () => {
    const text = '\n# warning: stage name should be lowercase\n#\nFROM scratch AS BadStageName\n\n# warning\n#\nFROM scratch as base2\n\nFROM scratch AS base3\n';
    assert.deepEqual(brief(text), [
      ['StageNameCasing', 4, "Stage name 'BadStageName' should be lowercase"],
      ['FromAsCasing', 8, "'as' and 'FROM' keywords' casing do not match"],
    ]);
    assert.deepEqual(brief('\n#\n#\nfrom scratch AS base\n\nfrom scratch as base2\n'), [
      ['FromAsCasing', 4, "'AS' and 'from' keywords' casing do not match"],
    ]);
    assert.deepEqual(brief('FROM scratch AS base\nFROM scratch\n'), []);
  });

  it('NoEmptyContinuation at the line where the instruction ends', () => {
    const text = '\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n';
    assert.deepEqual(brief(text), [['NoEmptyContinuation', 6, 'Empty continuation line']]);
    assert.deepEqual(brief('FROM scratch\nCOPY Dockerfile \\\n.\n'), []);
  });

  it('ConsistentInstructionCasing against the majority (global ARGs not counted)', () => {
    assert.deepEqual(brief('\n#\n#\nFrom scratch as base\nFROM scratch AS base2\n'), [
      ['ConsistentInstructionCasing', 4, "Command 'From' should match the case of the command majority (uppercase)"],
    ]);
    assert.deepEqual(brief('\nfrom scratch\n#\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n'), [
      ['ConsistentInstructionCasing', 4, "Command 'COPY' should match the case of the command majority (lowercase)"],
    ]);
    assert.deepEqual(brief('\nfrOM scratch as base\nfrom scratch as base2\n'), [
      ['ConsistentInstructionCasing', 2, "Command 'frOM' should match the case of the command majority (lowercase)"],
    ]);
    assert.deepEqual(brief('\nFROM scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\ncopy Dockerfile /baz\n'), [
      ['ConsistentInstructionCasing', 2, "Command 'FROM' should match the case of the command majority (lowercase)"],
    ]);
    assert.deepEqual(brief('arg a\narg b\nFROM scratch\nCOPY a /\n'), []);
    assert.deepEqual(brief('from scratch\ncopy Dockerfile /foo\n'), []);
  });

  it('JSONArgsRecommended for shell-form CMD/ENTRYPOINT unless a SHELL is set (also in the base stage)', () => {
    assert.deepEqual(brief('\nFROM scratch\nCMD mycommand\n'), [
      ['JSONArgsRecommended', 3, 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals'],
    ]);
    assert.deepEqual(brief('\nFROM scratch\nENTRYPOINT mycommand\n'), [
      ['JSONArgsRecommended', 3, 'JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals'],
    ]);
    assert.deepEqual(brief('FROM scratch\nSHELL ["/usr/bin/customshell"]\nCMD mycommand\n'), []);
    assert.deepEqual(brief('FROM scratch AS base\nSHELL ["/usr/bin/customshell"]\n\nFROM base\nENTRYPOINT mycommand\n'), []);
    assert.deepEqual(brief('FROM scratch\nCMD ["mycommand"]\n'), []);
  });

  it('MaintainerDeprecated', () => {
    assert.deepEqual(brief('\nFROM scratch\nMAINTAINER me@example.org\n'), [
      ['MaintainerDeprecated', 3, 'Maintainer instruction is deprecated in favor of using label'],
    ]);
    assert.deepEqual(brief('FROM scratch\nLABEL org.opencontainers.image.authors="me@example.org"\n'), []);
  });

  it('WorkdirRelativePath only before the stage (or its base stage) set an absolute one', () => {
    assert.deepEqual(brief('\nFROM scratch\nWORKDIR app/\n'), [
      ['WorkdirRelativePath', 3, 'Relative workdir "app/" can have unexpected results if the base image changes'],
    ]);
    assert.deepEqual(brief('FROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n'), []);
    assert.deepEqual(brief('FROM scratch\nWORKDIR /app\nWORKDIR sub\n'), []);
    // Only the first WORKDIR of a stage is judged; a variable is not guessed.
    assert.deepEqual(brief('FROM scratch\nWORKDIR $HOME/x\nWORKDIR rel\n'), []);
    assert.deepEqual(brief('FROM scratch\nWORKDIR "quoted"\n').map((w) => w[2]), [
      'Relative workdir "quoted" can have unexpected results if the base image changes',
    ]);
  });

  it('MultipleInstructionsDisallowed points at the instruction that is overridden', () => {
    const msg = (name: string): string =>
      `Multiple ${name} instructions should not be used in the same stage because only the last one will be used`;
    const text = '\nFROM scratch\nENTRYPOINT ["/myapp"]\nENTRYPOINT ["/myotherapp"]\nCMD ["/myapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n';
    assert.deepEqual(brief(text), [
      ['MultipleInstructionsDisallowed', 3, msg('ENTRYPOINT')],
      ['MultipleInstructionsDisallowed', 5, msg('CMD')],
      ['MultipleInstructionsDisallowed', 7, msg('HEALTHCHECK')],
    ]);
    const perStage = 'FROM scratch AS a\nENTRYPOINT ["/myapp"]\nCMD ["/myapp"]\nHEALTHCHECK CMD ["/myapp"]\n\nFROM a AS b\nENTRYPOINT ["/x"]\nCMD ["/x"]\nHEALTHCHECK CMD ["/x"]\n';
    assert.deepEqual(brief(perStage), []);
  });

  it('LegacyKeyValueFormat for ENV and LABEL', () => {
    assert.deepEqual(brief('\nFROM scratch\nENV testkey value\nLABEL key value\n'), [
      ['LegacyKeyValueFormat', 3, '"ENV key=value" should be used instead of legacy "ENV key value" format'],
      ['LegacyKeyValueFormat', 4, '"LABEL key=value" should be used instead of legacy "LABEL key value" format'],
    ]);
    assert.deepEqual(brief('FROM scratch\nENV testkey=value\nLABEL key=value\n'), []);
  });

  it('InvalidDefinitionDescription is experimental: only with experimental=…', () => {
    const text = '# check=experimental=InvalidDefinitionDescription\n# bar this is the bar\nARG foo=bar\n# BasE this is the BasE image\nFROM scratch AS base\n# definitely a bad comment\nARG version=latest\n# definitely a bad comment\nARG foo=baz bar=qux baz=quux\n';
    assert.deepEqual(brief(text), [
      ['InvalidDefinitionDescription', 3, 'Comment for ARG should follow the format: `# foo <description>`'],
      ['InvalidDefinitionDescription', 5, 'Comment for FROM should follow the format: `# base <description>`'],
      ['InvalidDefinitionDescription', 7, 'Comment for ARG should follow the format: `# version <description>`'],
      ['InvalidDefinitionDescription', 9, 'Comment for ARG should follow the format: `# <arg_key> <description>`'],
    ]);
    assert.deepEqual(brief(text.split('\n').slice(1).join('\n')), []);
    const good = '# check=skip=all;experimental=InvalidDefinitionDescription\n# foo this is the foo\nARG foo=bar\n\n# base the base\nFROM scratch AS base\n# baz this is the baz\nARG foo=baz bar=qux baz=quux\n#\nARG bit=bat\n';
    assert.deepEqual(brief(good), []);
  });

  it('warnings carry BuildKit URL, file and the keyword column', () => {
    const [w] = lint('FROM scratch\n   MAINTAINER me\n');
    assert.deepEqual(w, {
      rule: 'MaintainerDeprecated', message: 'Maintainer instruction is deprecated in favor of using label',
      url: 'https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/', location: { file: 'Dockerfile', line: 2, column: 4 },
    });
    assert.equal(lintRule('UndefinedVar').url, 'https://docs.docker.com/go/dockerfile/rule/undefined-var/');
  });
});

describe('the check directive', () => {
  const casing = 'FROM scratch as base\ncopy Dockerfile .\n';
  it('skip=all and skip=<rules> (testRuleCheckOption)', () => {
    assert.deepEqual(brief(`#check=skip=all\n${casing}`), []);
    assert.deepEqual(brief(`#check=skip=ConsistentInstructionCasing,FromAsCasing\n${casing}`), []);
    assert.deepEqual(brief(`#check=skip=ConsistentInstructionCasing\n${casing}`), [
      ['FromAsCasing', 2, "'as' and 'FROM' keywords' casing do not match"],
    ]);
    assert.deepEqual(brief(casing).map((w) => w[0]).sort(), ['ConsistentInstructionCasing', 'FromAsCasing']);
  });

  it('error=true is reported to the caller with BuildKit\'s message', () => {
    const parsed = parseDockerfile(`#check=skip=ConsistentInstructionCasing;error=true\n${casing}`);
    assert.equal(checkDirectiveOf(parsed).error, true);
    const warnings = lintDockerfile(parsed, toInstructions(parsed));
    assert.equal(lintViolationMessage(warnings), 'lint violation found for rules: FromAsCasing');
    assert.equal(lintViolationMessage([]), undefined);
  });

  it('an explicit configuration replaces the file\'s directive (BUILDKIT_DOCKERFILE_CHECK)', () => {
    const parsed = parseDockerfile(`#check=error=true\n${casing}`);
    const check = parseCheckDirective('skip=all');
    assert.deepEqual(lintDockerfile(parsed, toInstructions(parsed), 'Dockerfile', { check }), []);
  });

  it('a # check= comment above an instruction skips rules for that instruction only', () => {
    assert.deepEqual(brief('FROM scratch\n# check=skip=JSONArgsRecommended\nCMD mycommand\n'), []);
    assert.deepEqual(brief('FROM scratch\n# check=skip=MaintainerDeprecated\nMAINTAINER me@example.org\n'), []);
    assert.deepEqual(brief('FROM scratch\n# check=skip=WorkdirRelativePath\nWORKDIR app/\n'), []);
    assert.deepEqual(brief('FROM scratch\n# check=skip=LegacyKeyValueFormat\nENV k v\nLABEL k v\n').map((w) => w[1]), [4]);
  });

  it('parses options like ParseLintOptions and refuses bad ones as DIRECTIVE_INVALID', () => {
    assert.deepEqual(parseCheckDirective(' skip = A, B ;error=1;experimental=all'), {
      skipAll: false, skip: ['A', 'B'], experimentalAll: true, experimental: [], error: true,
    });
    const bad: [string, string][] = [
      ['skip', 'failed to parse check options: invalid check option "skip"'],
      ['foo=bar', 'failed to parse check options: invalid check option "foo"'],
      ['error=maybe', 'failed to parse check options: failed to parse check option "error=maybe": strconv.ParseBool: parsing "maybe": invalid syntax'],
    ];
    for (const [value, message] of bad) {
      assert.throws(() => parseCheckDirective(value), (err: unknown) => err instanceof DockerfileError && err.code === 'DIRECTIVE_INVALID' && err.message === message);
    }
    assert.throws(() => lint('# check=nonsense\nFROM scratch\n'), (err: unknown) => {
      assert.ok(err instanceof DockerfileError);
      assert.deepEqual([err.code, err.location], ['DIRECTIVE_INVALID', { file: 'Dockerfile', line: 1, column: 1 }]);
      return true;
    });
  });
});

describe('warnings before a parse error (testWarningsBeforeError)', () => {
  it('reports the parse-level warnings of the nodes up to the failing one', () => {
    const parsed = parseDockerfile('\nFROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n');
    const { instructions, error } = toInstructionsUntilError(parsed);
    assert.equal(error?.code, 'INSTRUCTION_UNKNOWN');
    assert.equal(error?.location?.line, 4);
    assert.deepEqual(lintDockerfile(parsed, instructions).map((w) => [w.rule, w.location.line]), [
      ['StageNameCasing', 2], ['MaintainerDeprecated', 3],
    ]);
  });
});
