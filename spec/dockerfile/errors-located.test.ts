/**
 * One test per parser error family of issue 3 ("Bad input"): the stable code,
 * the file, the line AND the 1-based column of the offending word, and the
 * message (BuildKit's wording, read from instructions/parse.go, bflag.go,
 * commands_runmount.go, dockerfile2llb/convert.go and convert_copy.go, plus
 * kiln's hints). Columns were counted by hand on the inputs below.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerfileError, parseDockerfile, toInstructions } from '../../lib/dockerfile/index.ts';
import type { DockerfileErrorCode } from '../../lib/dockerfile/index.ts';

interface Expected {
  code: DockerfileErrorCode;
  line: number;
  column: number;
  message: string | RegExp;
}

function fails(text: string, want: Expected): void {
  assert.throws(
    () => toInstructions(parseDockerfile(text, 'ctx/Dockerfile')),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError, String(err));
      assert.equal(err.code, want.code);
      assert.equal(err.location?.file, 'ctx/Dockerfile');
      assert.deepEqual([err.location?.line, err.location?.column], [want.line, want.column], err.message);
      if (typeof want.message === 'string') assert.equal(err.message, want.message);
      else assert.match(err.message, want.message);
      return true;
    },
  );
}

describe('parser errors carry code, file, line and column', () => {
  it('no instructions', () => {
    fails('# just a comment\n\n', { code: 'DOCKERFILE_EMPTY', line: 2, column: 1, message: 'file with no instructions' });
    fails('', { code: 'DOCKERFILE_EMPTY', line: 1, column: 1, message: 'file with no instructions' });
  });

  it('unknown instruction, with the nearest known one suggested', () => {
    fails('FROM a\n  RUNN echo\n', { code: 'INSTRUCTION_UNKNOWN', line: 2, column: 3, message: 'unknown instruction: RUNN (did you mean RUN?)' });
    fails('FROM a\ncopyy x /y\n', { code: 'INSTRUCTION_UNKNOWN', line: 2, column: 1, message: 'unknown instruction: copyy (did you mean copy?)' });
    fails('FROM a\nFOOBAR x\n', { code: 'INSTRUCTION_UNKNOWN', line: 2, column: 1, message: 'unknown instruction: FOOBAR' });
    fails('FROM a\nONBUILD  RUNN x\n', { code: 'INSTRUCTION_UNKNOWN', line: 2, column: 10, message: 'unknown instruction: RUNN (did you mean RUN?)' });
  });

  it('missing arguments', () => {
    fails('FROM a\n\tWORKDIR\n', { code: 'INSTRUCTION_INVALID', line: 2, column: 2, message: 'WORKDIR requires exactly one argument' });
    fails('FROM a\nCOPY onlyone\n', {
      code: 'INSTRUCTION_INVALID', line: 2, column: 1,
      message: 'COPY requires at least two arguments, but only one was provided. Destination could not be determined',
    });
    fails('FROM\n', { code: 'INSTRUCTION_INVALID', line: 1, column: 1, message: 'FROM requires either one or three arguments' });
  });

  it('exec form with a non-string element', () => {
    fails('FROM a\n CMD ["a", 1]\n', {
      code: 'JSON_NON_STRING', line: 2, column: 2, message: 'when using JSON array syntax, arrays must be comprised of strings only',
    });
  });

  it('unknown flag, with the nearest flag of that instruction suggested', () => {
    fails('FROM a\nCOPY --link --chmodd=755 a /b\n', {
      code: 'FLAG_UNKNOWN', line: 2, column: 13, message: 'unknown flag: --chmodd (did you mean chmod?)',
    });
    fails('FROM a\nRUN \\\n  --mount=type=cache,target=/x \\\n  --netwrk=none echo\n', {
      code: 'FLAG_UNKNOWN', line: 4, column: 3, message: 'unknown flag: --netwrk (did you mean network?)',
    });
    fails('FROM a\nADD --from=x a /b\n', { code: 'FLAG_UNKNOWN', line: 2, column: 5, message: 'unknown flag: --from' });
  });

  it('bad flag value: --chmod', () => {
    fails('FROM a\nCOPY --chown=1 --chmod=u+q a /b\n', {
      code: 'FLAG_INVALID', line: 2, column: 16, message: "invalid chmod parameter: 'u+q': invalid syntax",
    });
    fails('FROM a\nADD --chmod=0800 a /b\n', {
      code: 'FLAG_INVALID', line: 2, column: 5, message: "invalid chmod parameter: '0800'. it should be octal string and between 0 and 07777",
    });
  });

  it('bad flag value: HEALTHCHECK duration', () => {
    fails('FROM a\nHEALTHCHECK --timeout=1s --interval=5x CMD true\n', {
      code: 'FLAG_INVALID', line: 2, column: 26, message: 'time: unknown unit "x" in duration "5x"',
    });
    fails('FROM a\nHEALTHCHECK --interval=1us CMD true\n', {
      code: 'FLAG_INVALID', line: 2, column: 13, message: 'Interval "interval" cannot be less than 1ms',
    });
  });

  it('bad flag value: a --mount field (the failing --mount of several)', () => {
    fails('FROM a\nRUN --mount=type=cache,target=/x --mount=type=cahce,target=/y true\n', {
      code: 'FLAG_INVALID', line: 2, column: 34, message: 'unsupported mount type "cahce" (did you mean cache?)',
    });
    fails('FROM a\nRUN --mount=type=cache,target=/x,sharing=lockd true\n', {
      code: 'FLAG_INVALID', line: 2, column: 5, message: 'unsupported sharing value "lockd" (did you mean locked?)',
    });
    fails('FROM a\nRUN --mount=type=bind,taget=/x true\n', {
      code: 'FLAG_INVALID', line: 2, column: 5, message: "unexpected key 'taget' in 'taget=/x' (did you mean target?)",
    });
  });

  it('a variable in --from says to define a stage', () => {
    fails('ARG X=img\nFROM a\nCOPY --from=$X /a /b\n', {
      code: 'FLAG_INVALID', line: 3, column: 6,
      message: /^variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround \(e\.g\. ARG SRC=… before the first FROM, then "FROM \$\{SRC\} AS src"/,
    });
    fails('FROM a\nCOPY --from=${X:-b} /a /b\n', { code: 'FLAG_INVALID', line: 2, column: 6, message: /^variable expansion is not supported for --from/ });
    fails('FROM a\nRUN --mount=from=$X,target=/x true\n', {
      code: 'FLAG_INVALID', line: 2, column: 5, message: "'from' doesn't support variable expansion, define alias stage instead",
    });
    // A `$` at the end is not a variable (BuildKit keeps it).
    assert.equal(toInstructions(parseDockerfile('FROM a\nCOPY --from=b$ /a /b\n'))[1]?.kind, 'COPY');
  });

  it('bad parser directive', () => {
    fails('# escape=x\nFROM a\n', { code: 'DIRECTIVE_INVALID', line: 1, column: 1, message: "invalid escape token 'x' does not match ` or \\" });
    fails('# syntax=a\n# syntax=b\nFROM a\n', { code: 'DIRECTIVE_INVALID', line: 2, column: 1, message: 'only one syntax parser directive can be used' });
  });

  it('heredoc and line errors point at the instruction', () => {
    fails('FROM a\nRUN cat <<EOF\nhi\n', { code: 'DOCKERFILE_SYNTAX', line: 2, column: 9, message: 'unterminated heredoc' });
  });
});
