/**
 * Parser behaviour beyond the upstream vectors: directives, line handling,
 * heredocs, error codes with locations, Go-compatible quoting. Expected
 * values come from BuildKit's documented behaviour and Go's strconv.Quote
 * (the quote strings below were printed by Go 1.19's strconv.Quote).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../../lib/errors.ts';
import { DockerfileError, dumpAst, goQuote, parseDockerfile } from '../../lib/dockerfile/index.ts';
import type { DockerfileErrorCode } from '../../lib/dockerfile/index.ts';

function fails(text: string, code: DockerfileErrorCode, line: number, message?: string | RegExp): void {
  assert.throws(
    () => parseDockerfile(text, 'ctx/Dockerfile'),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError);
      assert.ok(err instanceof KilnError);
      assert.equal(err.code, code);
      assert.equal(err.location?.file, 'ctx/Dockerfile');
      assert.equal(err.location?.line, line);
      if (typeof message === 'string') assert.equal(err.message, message);
      else if (message !== undefined) assert.match(err.message, message);
      return true;
    },
  );
}

const dump = (text: string | Uint8Array): string => dumpAst(parseDockerfile(text).nodes);

describe('parser directives', () => {
  it('reads syntax, escape and check from the leading lines, keys case-insensitive', () => {
    const r = parseDockerfile('# Syntax = docker/dockerfile:1\n#ESCAPE=`\n# check=skip=all\nFROM a\nRUN x `\n  y\n');
    assert.deepEqual(r.directives, { syntax: 'docker/dockerfile:1', escape: '`', check: 'skip=all', checkLine: 3 });
    assert.equal(r.escapeToken, '`');
    assert.equal(dumpAst(r.nodes), '(from "a")\n(run "x   y")\n');
  });
  it('stops scanning at the first non-directive line', () => {
    const r = parseDockerfile('# hello\n# escape=`\nFROM a\nRUN x \\\n  y\n');
    assert.equal(r.escapeToken, '\\');
    assert.equal(r.nodes[1]?.args[0], 'x   y');
  });
  it('an unknown key ends scanning', () => {
    assert.equal(parseDockerfile('# foo=bar\n# escape=`\nFROM a\n').escapeToken, '\\');
  });
  it('a repeated directive is DIRECTIVE_INVALID at its line', () => {
    fails('# syntax=a\n# SYNTAX=b\nFROM x\n', 'DIRECTIVE_INVALID', 2, 'only one syntax parser directive can be used');
  });
  it('an escape token other than \\ or ` is DIRECTIVE_INVALID', () => {
    fails('# escape=x\nFROM a\n', 'DIRECTIVE_INVALID', 1, /invalid escape token 'x'/);
  });
  it('directive lines are not doc comments; later comments are', () => {
    const r = parseDockerfile('# syntax=x\n# the base\nFROM a\n');
    assert.deepEqual(r.nodes[0]?.comments, ['the base']);
  });
});

describe('lines, continuations and comments', () => {
  it('drops a UTF-8 BOM and handles CRLF line ends (bytes input)', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('FROM a\r\nRUN b \\\r\n  c\r\n')]);
    assert.equal(dump(bytes), '(from "a")\n(run "b   c")\n');
  });
  it('keeps whitespace before the escape and the continuation line as written', () => {
    assert.equal(dump('RUN echo hello  \\\n  world\n'), '(run "echo hello    world")\n');
  });
  it('skips comment lines inside a continuation; an escaped escape does not continue', () => {
    assert.equal(dump('RUN a \\\n# note\n  b\nRUN c\\\\\nRUN d\n'), '(run "a   b")\n(run "c\\\\\\\\")\n(run "d")\n');
  });
  it('blank continuation lines warn with the joined line and the end line', () => {
    const r = parseDockerfile('FROM a\nRUN a \\\n\n  b\n');
    assert.equal(r.warnings.length, 1);
    assert.equal(r.warnings[0]?.code, 'EMPTY_CONTINUATION');
    assert.equal(r.warnings[0]?.message, 'Empty continuation line found in: RUN a   b');
    assert.equal(r.warnings[0]?.line, 4);
  });
  it('records ranges over continuation lines', () => {
    const r = parseDockerfile('\n\nFROM a\nRUN a \\\n  b \\\n  c\nUSER x\n');
    assert.deepEqual(r.nodes.map((n) => n.range), [{ start: 3, end: 3 }, { start: 4, end: 6 }, { start: 7, end: 7 }]);
  });
  it('keywords are case-insensitive; the raw keyword is kept', () => {
    const [node] = parseDockerfile('fRoM a\n').nodes;
    assert.equal(node?.keyword, 'from');
    assert.equal(node?.rawKeyword, 'fRoM');
  });
  it('an unknown keyword is kept with one empty arg', () => {
    assert.equal(dump('FOO bar baz\n'), '(foo "")\n');
  });
  it('a file of only comments and blanks is DOCKERFILE_EMPTY', () => {
    fails('# a\n\n   \n# b\n', 'DOCKERFILE_EMPTY', 4, 'file with no instructions');
  });
});

describe('arguments', () => {
  it('collects flags: quotes removed, escapes applied, bare -- ends them', () => {
    assert.equal(dump('COPY --a="b c" --d=e\\ f -- --g x y\n'), '(copy ["--a=b c" "--d=e f"] "--g" "x" "y")\n');
  });
  it('JSON exec form, shell fallback for broken JSON, hard error for non-strings', () => {
    assert.equal(dump('CMD ["a", "b c"]\nCMD [a, b]\n'), '(cmd "a" "b c")\n(cmd "[a, b]")\n');
    assert.equal(parseDockerfile('CMD ["a"]\n').nodes[0]?.json, true);
    fails('FROM a\nRUN ["a", null]\n', 'JSON_NON_STRING', 2);
  });
  it('ENV/LABEL name-value forms keep quotes; a word without = is an error', () => {
    assert.equal(dump('ENV a="b c" d=e\nLABEL k some value\n'), '(env "a" "\\"b c\\"" "=" "d" "e" "=")\n(label "k" "some value" "")\n');
    fails('FROM x\nENV a=b c\n', 'INSTRUCTION_INVALID', 2, 'Syntax error - can\'t find = in "c". Must be of the form: name=value');
    fails('LABEL k\n', 'INSTRUCTION_INVALID', 1, 'LABEL must have two arguments');
  });
  it('HEALTHCHECK keeps the type word and parses the rest like RUN', () => {
    assert.equal(dump('HEALTHCHECK --interval=5s CMD ["a"]\nHEALTHCHECK NONE\n'), '(healthcheck ["--interval=5s"] "CMD" "a")\n(healthcheck "NONE")\n');
  });
  it('ONBUILD nests its trigger', () => {
    assert.equal(dump('ONBUILD COPY --from=b . /\n'), '(onbuild (copy ["--from=b"] "." "/"))\n');
  });
});

describe('heredocs', () => {
  it('reads bodies, several per instruction, and spans their lines', () => {
    const r = parseDockerfile('FROM a\nCOPY <<one <<"two" /dst/\n1\none\n2 $x\ntwo\nRUN x\n');
    const copy = r.nodes[1];
    assert.deepEqual(copy?.heredocs, [
      { name: 'one', content: '1\n', expand: true, chomp: false, fileDescriptor: 0 },
      { name: 'two', content: '2 $x\n', expand: false, chomp: false, fileDescriptor: 0 },
    ]);
    assert.deepEqual(copy?.range, { start: 2, end: 6 });
    assert.equal(r.nodes[2]?.range.start, 7);
  });
  it('<<- accepts a tab-indented terminator and stores the body unchomped', () => {
    const [, run] = parseDockerfile('FROM a\nRUN <<-EOT\n\techo hi\n\tEOT\n').nodes;
    assert.deepEqual(run?.heredocs, [{ name: 'EOT', content: '\techo hi\n', expand: true, chomp: true, fileDescriptor: 0 }]);
  });
  it('keeps CRLF inside bodies (BuildKit copies the raw line)', () => {
    const [run] = parseDockerfile('RUN <<E\r\na\r\nE\r\n').nodes;
    assert.equal(run?.heredocs[0]?.content, 'a\r\n');
  });
  it('works under ONBUILD, not for other instructions or the exec form', () => {
    const r = parseDockerfile('ONBUILD RUN <<E\nx\nE\nUSER <<E\nRUN ["<<E"]\n');
    assert.equal(r.nodes[0]?.heredocs[0]?.content, 'x\n');
    assert.deepEqual(r.nodes.map((n) => n.keyword), ['onbuild', 'user', 'run']);
  });
  it('an unterminated heredoc is DOCKERFILE_SYNTAX at the instruction line', () => {
    fails('FROM a\nRUN <<EOF\necho\n', 'DOCKERFILE_SYNTAX', 2, 'unterminated heredoc');
  });
  it('a line the shell word splitter rejects has no heredoc (as in BuildKit)', () => {
    const r = parseDockerfile('FROM a\nRUN <<"EOF\nRUN x\n');
    assert.deepEqual(r.nodes.map((n) => [n.original, n.heredocs.length]), [['FROM a', 0], ['RUN <<"EOF', 0], ['RUN x', 0]]);
  });
});

describe('goQuote matches Go strconv.Quote', () => {
  const cases: [string, string][] = [
    ['a\u00a0b', '"a\\u00a0b"'],
    ['\u2028', '"\\u2028"'],
    ['\x7f\x01', '"\\x7f\\x01"'],
    ['\u{1F600}', '"\u{1F600}"'],
    ['\u{E0001}', '"\\U000e0001"'],
    ['e\u0301', '"e\u0301"'],
    ['\x07\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\u200b', '"\\u200b"'],
    ['\u{10FFFF}', '"\\U0010ffff"'],
    ['\ufeff', '"\\ufeff"'],
    ['"\\♥', '"\\"\\\\♥"'],
  ];
  for (const [input, expected] of cases) it(JSON.stringify(input), () => assert.equal(goQuote(input), expected));
});
