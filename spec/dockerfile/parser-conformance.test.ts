/**
 * BuildKit parser conformance: the upstream testfiles (AST dumps compared
 * byte-exact), the negative cases, and the vectors transcribed from the Go
 * tests in extra/*.json. Data: testdata/conformance/buildkit-parser/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  chompHeredoc, detectSyntax, DockerfileError, dumpAst, findDirective, heredocsFromLine,
  parseDirectives, parseDockerfile, parseHeredocWord, parseJsonArray, parseWords,
} from '../../lib/dockerfile/index.ts';

const ROOT = fileURLToPath(new URL('../../testdata/conformance/buildkit-parser/', import.meta.url));
const read = (rel: string): Buffer => readFileSync(ROOT + rel);
const extra = <T>(name: string): T => JSON.parse(readFileSync(`${ROOT}extra/${name}.json`, 'utf8')) as T;
const cases = (dir: string): string[] => readdirSync(ROOT + dir).sort();

describe('testfiles (positive): AST dump equals result', () => {
  const names = cases('testfiles');
  it('has all 33 upstream cases', () => assert.equal(names.length, 33));
  for (const name of names) {
    it(name, () => {
      const result = parseDockerfile(read(`testfiles/${name}/Dockerfile`));
      assert.equal(dumpAst(result.nodes), read(`testfiles/${name}/result`).toString('utf8'));
    });
  }
});

describe('testfiles-negative: parsing fails', () => {
  const expected: Record<string, string> = {
    empty_dockerfile: 'DOCKERFILE_EMPTY',
    only_comments: 'DOCKERFILE_EMPTY',
    env_no_value: 'INSTRUCTION_INVALID',
    'shykes-nested-json': 'JSON_NON_STRING',
  };
  const names = cases('testfiles-negative');
  it('has the 4 upstream cases', () => assert.deepEqual(names, Object.keys(expected).sort()));
  for (const name of names) {
    it(name, () => {
      assert.throws(
        () => parseDockerfile(read(`testfiles-negative/${name}/Dockerfile`)),
        (err: unknown) => err instanceof DockerfileError && err.code === expected[name],
      );
    });
  }
});

interface HeredocExpect { name: string; content: string; expand: boolean; chomp: boolean; fileDescriptor: number }
interface HeredocVectors {
  extract: { dockerfile: string; expectations: { child: number; instruction: string; heredocs: HeredocExpect[] | null }[] };
  jsonFormNoHeredoc: { dockerfile: string; childrenWithoutHeredocs: number[] };
  chomp: { cases: { input: string; expected: string }[] };
  parseHeredocWord: { valid: string[]; invalid: string[]; notHeredoc: string[] };
  heredocsFromLine: { cases: { line: string; names: string[] }[] };
}

describe('extra/heredocs.json', () => {
  const v = extra<HeredocVectors>('heredocs');
  const nodes = parseDockerfile(v.extract.dockerfile).nodes;
  it('extract: child 0 is FROM and every expected child exists', () => {
    assert.equal(nodes[0]?.keyword, 'from');
    assert.equal(nodes.length, v.extract.expectations.length + 1);
  });
  for (const e of v.extract.expectations) {
    it(`extract: ${JSON.stringify(e.instruction)}`, () => {
      const node = nodes[e.child];
      assert.ok(node);
      assert.equal(node.original, e.instruction);
      assert.deepEqual(node.heredocs.map((h) => ({ ...h })), e.heredocs ?? []);
    });
  }
  it('jsonFormNoHeredoc: exec-form RUN has no heredocs', () => {
    const json = parseDockerfile(v.jsonFormNoHeredoc.dockerfile).nodes;
    for (const i of v.jsonFormNoHeredoc.childrenWithoutHeredocs) {
      assert.equal(json[i]?.json, true);
      assert.deepEqual(json[i]?.heredocs, []);
    }
  });
  for (const c of v.chomp.cases) it(`chomp ${JSON.stringify(c.input)}`, () => assert.equal(chompHeredoc(c.input), c.expected));
  for (const w of v.parseHeredocWord.valid) {
    it(`parseHeredocWord valid ${w}`, () => assert.equal(parseHeredocWord(w)?.name, 'EOF'));
  }
  for (const w of v.parseHeredocWord.invalid) {
    it(`parseHeredocWord invalid ${w}`, () => assert.throws(() => parseHeredocWord(w)));
  }
  for (const w of v.parseHeredocWord.notHeredoc) {
    it(`parseHeredocWord not a heredoc ${JSON.stringify(w)}`, () => assert.equal(parseHeredocWord(w), undefined));
  }
  for (const c of v.heredocsFromLine.cases) {
    it(`heredocsFromLine ${c.line}`, () => {
      const names = heredocsFromLine(c.line).map((h) => h.name);
      // Upstream only checks names[i] === expected[i] for the heredocs found.
      names.forEach((name, i) => assert.equal(name, c.names[i]));
      // BuildKit's word splitter cuts `<<- EOF` into `<<-` and `EOF` (only
      // blanks right after `<<` stay in the word), so that line has no
      // heredoc; the transcribed ["EOF"] is not what upstream asserts.
      assert.deepEqual(names, c.line === 'RUN <<- EOF' ? [] : c.names);
    });
  }
});

describe('extra/json-arrays.json', () => {
  const v = extra<{ valid: { input: string; expected: string[] }[]; notArrayOfStrings: string[] }>('json-arrays');
  for (const c of v.valid) {
    it(`valid ${c.input}`, () => {
      assert.deepEqual(parseJsonArray(c.input), c.expected);
      const node = parseDockerfile(`CMD ${c.input}`).nodes[0];
      assert.equal(node?.json, true);
      assert.deepEqual(node?.args, c.expected);
    });
  }
  for (const input of v.notArrayOfStrings) {
    it(`non-string element ${input}`, () => {
      assert.throws(
        () => parseDockerfile(`FROM x\nCMD ${input}`),
        (err: unknown) => err instanceof DockerfileError && err.code === 'JSON_NON_STRING' && err.location?.line === 2,
      );
    });
  }
});

describe('extra/parse-words.json', () => {
  for (const c of extra<{ cases: { input: string; expected: string[] }[] }>('parse-words').cases) {
    it(c.input, () => assert.deepEqual(parseWords(c.input, '\\'), c.expected));
  }
});

describe('extra/line-numbers.json', () => {
  const v = extra<{ expected: { root: { startLine: number; endLine: number }; childCount: number; children: { startLine: number; endLine: number }[] } }>('line-numbers');
  it('testfile-line ranges', () => {
    const nodes = parseDockerfile(read('testfile-line/Dockerfile')).nodes;
    assert.equal(nodes.length, v.expected.childCount);
    assert.deepEqual({ startLine: nodes[0]?.range.start, endLine: nodes.at(-1)?.range.end }, v.expected.root);
    assert.deepEqual(nodes.map((n) => ({ startLine: n.range.start, endLine: n.range.end })), v.expected.children);
  });
});

interface WarningVectors {
  emptyContinuationWarnings: { dockerfile: string; expectedWarningCount: number; warningsShortContains: string[][]; firstWarningDetailContains: string };
  lineTooLong: { dockerfileTemplate: string; LABEL: { repeat: string; count: number }; expectError: string };
}

describe('extra/warnings.json', () => {
  const v = extra<WarningVectors>('warnings');
  it('empty continuation lines warn', () => {
    const { warnings } = parseDockerfile(v.emptyContinuationWarnings.dockerfile);
    assert.equal(warnings.length, v.emptyContinuationWarnings.expectedWarningCount);
    v.emptyContinuationWarnings.warningsShortContains.forEach((parts, i) => {
      for (const part of parts) assert.ok(warnings[i]?.message.includes(part), `${warnings[i]?.message} ∌ ${part}`);
    });
    assert.ok(warnings[0]?.detail.includes(v.emptyContinuationWarnings.firstWarningDetailContains));
  });
  it('a line over 64 KiB is an error', () => {
    const t = v.lineTooLong;
    const text = t.dockerfileTemplate.replace('{LABEL}', t.LABEL.repeat.repeat(t.LABEL.count));
    assert.throws(() => parseDockerfile(text), (err: unknown) => err instanceof DockerfileError && err.message === t.expectError);
    // One byte under the limit (65535 bytes plus the newline) still parses.
    const fits = `FROM x\nLABEL a=${'a'.repeat(65535 - 'LABEL a='.length)}\n`;
    assert.equal(parseDockerfile(fits).nodes.length, 2);
  });
});

describe('extra/name-value.json', () => {
  for (const c of extra<{ cases: { test: string; instruction: string; args: string; nodes?: string[]; error?: string }[] }>('name-value').cases) {
    it(c.test, () => {
      const text = `${c.instruction} ${c.args}`;
      if (c.error === undefined) assert.deepEqual(parseDockerfile(text).nodes[0]?.args, c.nodes);
      else assert.throws(() => parseDockerfile(text), (err: unknown) => err instanceof DockerfileError && err.message === c.error);
    });
  }
});

interface DirectiveVectors {
  parseAll: { cases: { input: string; expected: { name: string; value: string }[] }[] };
  detectSyntax: { cases: { input?: string; inputUtf8BomPrefixed?: string; ok: boolean; ref?: string; cmdline?: string; line?: number }[] };
  parseDirective: { key: 'check'; cases: { input: string; ok: boolean; value?: string; cmdline?: string; line?: number }[] };
}

describe('extra/directives.json', () => {
  const v = extra<DirectiveVectors>('directives');
  for (const c of v.parseAll.cases) {
    it(`parseAll ${JSON.stringify(c.input)}`, () => {
      assert.deepEqual(parseDirectives(c.input).map(({ name, value }) => ({ name, value })), c.expected);
    });
  }
  for (const c of v.detectSyntax.cases) {
    const input = c.input ?? `\ufeff${c.inputUtf8BomPrefixed ?? ''}`;
    it(`detectSyntax ${JSON.stringify(input)}`, () => {
      const found = detectSyntax(input);
      assert.equal(found !== undefined, c.ok);
      if (c.ok) assert.equal(found?.ref, c.ref);
      if (c.ok && c.cmdline !== undefined) assert.equal(found?.cmdline, c.cmdline);
      if (c.ok && c.line !== undefined) assert.equal(found?.line, c.line);
    });
  }
  for (const c of v.parseDirective.cases) {
    it(`parseDirective(${v.parseDirective.key}) ${JSON.stringify(c.input)}`, () => {
      const found = findDirective(v.parseDirective.key, c.input);
      assert.equal(found !== undefined, c.ok);
      if (c.ok) assert.equal(found?.ref, c.value);
      if (c.ok && c.cmdline !== undefined) assert.equal(found?.cmdline, c.cmdline);
      if (c.ok && c.line !== undefined) assert.equal(found?.line, c.line);
    });
  }
});
