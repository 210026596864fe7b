/**
 * BuildKit's own shell-lexer vectors (testdata/conformance/buildkit-shell/),
 * run table-driven from the copied files. envVarTest and wordsTest are read
 * from the upstream text files with the line rules of the corpus README §2,
 * and cross-checked against the JSON transcriptions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ShellLexer } from '../../lib/dockerfile/shell-lexer.ts';
import { ShellError } from '../../lib/dockerfile/shell-error.ts';
import { envFromList } from '../../lib/dockerfile/shell-env.ts';

const DIR = new URL('../../testdata/conformance/buildkit-shell/', import.meta.url);
const readText = (name: string) => readFileSync(new URL(name, DIR), 'utf8');
const readJson = (name: string): unknown => JSON.parse(readText(name));

interface EnvVarCase {
  line: number;
  platform: 'A' | 'U' | 'W';
  input: string;
  expected?: string;
  error?: true;
}

/** envVarTest: `#` in column 1 is a comment; `PLATFORM | INPUT | EXPECTED`, each trimmed. */
function parseEnvVarTest(text: string): EnvVarCase[] {
  const cases: EnvVarCase[] = [];
  text.split('\n').forEach((raw, index) => {
    if (raw.startsWith('#')) return;
    const line = raw.trim();
    if (line === '') return;
    const fields = line.split('|').map((f) => f.trim());
    assert.equal(fields.length, 3, `envVarTest:${index + 1} must have 3 fields`);
    const [platform, input, expected] = fields as [EnvVarCase['platform'], string, string];
    const base = { line: index + 1, platform, input };
    cases.push(expected === 'error' ? { ...base, error: true } : { ...base, expected });
  });
  return cases;
}

interface WordsCase {
  line: number;
  input: string;
  env: string[];
  expected?: string[];
  error?: true;
}

/** wordsTest: `ENV name=value` lines accumulate (trailing spaces kept); `INPUT | w1,w2,…`. */
function parseWordsTest(text: string): WordsCase[] {
  const cases: WordsCase[] = [];
  const env: string[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, index) => {
    if (raw.startsWith('#')) return;
    if (raw.startsWith('ENV ')) {
      env.push(raw.slice(4).replace(/^ +/, ''));
      return;
    }
    const parts = raw.split('|');
    assert.equal(parts.length, 2, `wordsTest:${index + 1} must have one |`);
    const input = parts[0]!.trim();
    const right = parts[1]!.replace(/^ +/, '');
    const base = { line: index + 1, input, env: [...env] };
    cases.push(right === 'error' ? { ...base, error: true } : { ...base, expected: right.split(',') });
  });
  return cases;
}

const lexer = new ShellLexer('\\');

describe('buildkit-shell/envVarTest (ProcessWord)', () => {
  const cases = parseEnvVarTest(readText('envVarTest'));
  const json = readJson('envVarTest.json') as { env: string[]; escapeToken: string; cases: EnvVarCase[] };
  const env = envFromList(json.env);

  it('reads 230 cases that agree with envVarTest.json', () => {
    assert.equal(cases.length, 230);
    assert.equal(json.escapeToken, '\\');
    assert.deepEqual(cases, json.cases);
  });

  for (const c of cases) {
    const title = `line ${c.line} [${c.platform}] ${c.input}`;
    if (c.platform === 'W') {
      it(title, { skip: 'Windows-only vector (case-insensitive env names)' }, () => {});
      continue;
    }
    it(title, () => {
      if (c.error) assert.throws(() => lexer.processWord(c.input, env), ShellError);
      else assert.equal(lexer.processWord(c.input, env).word, c.expected);
    });
  }
});

describe('buildkit-shell/wordsTest (ProcessWords)', () => {
  const cases = parseWordsTest(readText('wordsTest'));
  const json = readJson('wordsTest.json') as { cases: WordsCase[] };

  it('reads 24 cases that agree with wordsTest.json', () => {
    assert.equal(cases.length, 24);
    assert.deepEqual(cases, json.cases);
  });

  for (const c of cases) {
    it(`line ${c.line} ${c.input}`, () => {
      const env = envFromList(c.env);
      if (c.error) assert.throws(() => lexer.processWords(c.input, env), ShellError);
      else assert.deepEqual(lexer.processWords(c.input, env), c.expected);
    });
  }
});

interface MatchCase {
  input: string;
  env: Record<string, string>;
  expected?: string;
  matched?: string[];
  unmatched?: string[];
  error?: true;
}

interface LexCases {
  processWordWithMatches: { cases: MatchCase[] };
  mandatoryEnvVars: { cases: { input: string; env: string[]; expected?: string; errorContains?: string }[] };
  platformTemplate: { cases: { input: string; env: Record<string, string>; expected: string }[] };
  envFromSlice: { cases: { env: string[]; lookups: Record<string, string> }[] };
}

const lexCases = readJson('lex-cases.json') as LexCases;
const sorted = (values: Iterable<string>) => [...values].sort();

describe('buildkit-shell/lex-cases.json processWordWithMatches', () => {
  it('has 47 cases', () => assert.equal(lexCases.processWordWithMatches.cases.length, 47));
  lexCases.processWordWithMatches.cases.forEach((c, i) => {
    it(`[${i}] ${c.input}`, () => {
      const env = new Map(Object.entries(c.env));
      if (c.error) {
        assert.throws(() => lexer.processWord(c.input, env), ShellError);
        return;
      }
      const result = lexer.processWord(c.input, env);
      assert.equal(result.word, c.expected);
      assert.deepEqual(sorted(result.matched), sorted(c.matched ?? []));
      assert.deepEqual(sorted(result.unmatched), sorted(c.unmatched ?? []));
    });
  });
});

describe('buildkit-shell/lex-cases.json mandatoryEnvVars', () => {
  lexCases.mandatoryEnvVars.cases.forEach((c, i) => {
    it(`[${i}] ${c.input} with ${c.env.join(' ')}`, () => {
      const env = envFromList(c.env);
      if (c.errorContains === undefined) {
        assert.equal(lexer.processWord(c.input, env).word, c.expected);
        return;
      }
      assert.throws(
        () => lexer.processWord(c.input, env),
        (err: unknown) =>
          err instanceof ShellError && err.code === 'SHELL_VAR_REQUIRED' && err.message.includes(c.errorContains!) && err.fields['variable'] === 'VAR',
      );
    });
  });
});

describe('buildkit-shell/lex-cases.json platformTemplate', () => {
  lexCases.platformTemplate.cases.forEach((c, i) => {
    it(`[${i}] TARGETVARIANT=${c.env['TARGETVARIANT'] ?? '(unset)'}`, () => {
      assert.equal(lexer.processWord(c.input, new Map(Object.entries(c.env))).word, c.expected);
    });
  });
});

describe('buildkit-shell/lex-cases.json envFromSlice', () => {
  lexCases.envFromSlice.cases.forEach((c, i) => {
    it(`[${i}] ${JSON.stringify(c.env)}`, () => {
      const env = envFromList(c.env);
      for (const [name, value] of Object.entries(c.lookups)) assert.equal(env.get(name) ?? '', value);
    });
  });
});
