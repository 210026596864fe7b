/**
 * What the upstream vector files do not cover: the backtick escape token,
 * the four lexer options, Go's replace-all rules, heredoc markers, error
 * fields. Every expected value here was checked by running BuildKit's
 * lex.go (commit 73ed6825) under Go with the same inputs; the two places
 * where kiln differs on purpose say so.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ShellLexer } from '../../lib/dockerfile/shell-lexer.ts';
import { ShellError } from '../../lib/dockerfile/shell-error.ts';

const home = new Map([['PWD', '/home']]);

describe('ShellLexer with the backtick escape token', () => {
  const lexer = new ShellLexer('`');

  it('escapes with ` and keeps \\ literal', () => {
    assert.equal(lexer.processWord('he`$PWD a\\b "`"q" `', home).word, 'he$PWD a\\b "q ');
  });

  it('keeps an escaped space inside one word', () => {
    assert.deepEqual(lexer.processWords('a` b c`', new Map()), ['a b', 'c']);
  });
});

describe('ShellLexer options', () => {
  const lexer = new ShellLexer('\\');

  it('rawQuotes keeps the quotes but still expands inside double quotes', () => {
    const result = lexer.processWord(`"a$PWD"'b'`, home, { rawQuotes: true });
    assert.equal(result.word, `"a/home"'b'`);
    assert.deepEqual([...result.matched], ['PWD']);
  });

  it('rawEscapes keeps escape tokens', () => {
    assert.equal(lexer.processWord('a\\ b\\$PWD', home, { rawEscapes: true }).word, 'a\\ b\\$PWD');
  });

  it('skipProcessQuotes treats quotes as text', () => {
    assert.equal(lexer.processWord(`"$PWD" 'x'`, home, { skipProcessQuotes: true }).word, `"/home" 'x'`);
  });

  it('skipUnsetEnv leaves references to unset variables as written (// printed as /, like upstream)', () => {
    const result = lexer.processWord('$X ${X} ${X:-d} ${X/a/b} ${X//a/b} $PWD', home, { skipUnsetEnv: true });
    assert.equal(result.word, '$X ${X} ${X:-d} ${X/a/b} ${X/a/b} /home');
    assert.deepEqual([...result.unmatched], ['X']);
  });

  it('constructor options apply to every call and per-call options override them', () => {
    const raw = new ShellLexer('\\', { rawQuotes: true });
    assert.equal(raw.processWord(`'a'`, home).word, `'a'`);
    assert.equal(raw.processWord(`'a'`, home, { rawQuotes: false }).word, 'a');
  });
});

describe('ShellLexer expansion details', () => {
  const lexer = new ShellLexer();
  const foo = new Map([
    ['FOO', 'xxyy'],
    ['E', '$0-$$'],
  ]);

  it('${v//p/r} follows Go ReplaceAllString: no second empty match, $0 and $$ in the replacement', () => {
    assert.equal(lexer.processWord('${FOO//*/-}|${FOO//x*/-}|${FOO//y/$E}|${FOO/x/$E}', foo).word, '-|-|xxy-$y-$|$0-$$xyy');
  });

  it('# ## % %% pick the shortest or longest match', () => {
    const env = new Map([['FOO', 'axxyy*']]);
    assert.equal(lexer.processWord('${FOO%%y*}|${FOO%y*}|${FOO##*x}|${FOO#*x}|${FOO#\\*}', env).word, 'axx|axxy|yy*|xyy*|axxyy*');
  });

  it('rejects a pattern escape other than \\* \\? \\\\', () => {
    assert.throws(
      () => lexer.processWord('${FOO/\\x/y}', foo),
      (err: unknown) => err instanceof ShellError && err.code === 'SHELL_BAD_PATTERN' && err.message.includes("invalid escape '\\x'"),
    );
  });

  it('splits whitespace from variable values but not from quotes', () => {
    assert.deepEqual(lexer.processWords('$V x"$V"y', new Map([['V', ' a  b ']])), ['a', 'b', 'x a  b y']);
  });

  it('keeps << and the blanks after it glued to the heredoc word', () => {
    assert.deepEqual(lexer.processWords('<< EOF x<<-\tEND', new Map()), ['<< EOF', 'x<<-', 'END']);
  });

  it('records lookups inside modifier words and accepts a function as the environment', () => {
    const env = (name: string) => (name === 'W' ? '' : undefined);
    const result = lexer.processWord('${V:-$W}${W-z}', env);
    assert.equal(result.word, '');
    assert.deepEqual([...result.matched], ['W']);
    assert.deepEqual([...result.unmatched], ['V']);
  });

  it('keeps text before a ${v:-w} in the same word (upstream ProcessWords drops it: a buffer-sharing bug)', () => {
    // BuildKit 73ed6825 returns ["ab"]: nested processStopOn calls reset a shared
    // word buffer. Its ProcessWord gives "helloab", which kiln matches.
    assert.deepEqual(lexer.processWords('hello${x:-a}b', new Map()), ['helloab']);
    assert.equal(lexer.processWord('hello${x:-a}b', new Map()).word, 'helloab');
  });
});

describe('ShellError', () => {
  const lexer = new ShellLexer();
  const cases: Array<[string, Map<string, string>, string, string]> = [
    ['${X:?}', new Map(), 'SHELL_VAR_REQUIRED', 'X: is not allowed to be unset'],
    ['${X:?}', new Map([['X', '']]), 'SHELL_VAR_REQUIRED', 'X: is not allowed to be empty'],
    ['${X?}', new Map(), 'SHELL_VAR_REQUIRED', 'X: is not allowed to be unset'],
    ["a'b", new Map(), 'SHELL_SYNTAX', 'unexpected end of statement while looking for matching single-quote'],
    // Upstream words this one "unsupported modifier (\uFFFD)"; the code is what counts.
    ['${X', new Map(), 'SHELL_SYNTAX', "syntax error: missing '}'"],
    ['${}', new Map(), 'SHELL_SYNTAX', 'syntax error: bad substitution'],
    ['${X=1}', new Map(), 'SHELL_SYNTAX', 'unsupported modifier (=) in substitution'],
  ];
  for (const [word, env, code, detail] of cases) {
    it(`${word} → ${code}`, () => {
      assert.throws(
        () => lexer.processWord(word, env),
        (err: unknown) =>
          err instanceof ShellError &&
          err.code === code &&
          err.message === `failed to process ${JSON.stringify(word)}: ${detail}` &&
          err.fields['word'] === word &&
          err.fields['detail'] === detail,
      );
    });
  }
});
