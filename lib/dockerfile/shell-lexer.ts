/**
 * BuildKit's shell-word lexer (`frontend/dockerfile/shell`): quote removal,
 * escapes, `$v` / `${v…}` expansion with every modifier BuildKit accepts, and
 * word splitting. Semantics follow BuildKit's code; see `ShellLexer`.
 */
import { ShellError, ShellFailure } from './shell-error.ts';
import { type EnvLookup, lookupEnv } from './shell-env.ts';
import { replacePattern, trimPatternPrefix, trimPatternSuffix } from './shell-pattern.ts';
import { WordCollector } from './shell-words.ts';

/** The Dockerfile `# escape=` token: `\` (default) or `` ` ``. */
export type EscapeToken = '\\' | '`';

/** BuildKit's `Lex` switches; all default to false. */
export interface ShellLexerOptions {
  /** Keep the quote characters in the output (`RawQuotes`). */
  rawQuotes?: boolean;
  /** Keep escape tokens in the output (`RawEscapes`). */
  rawEscapes?: boolean;
  /** Treat `'` and `"` as ordinary characters (`SkipProcessQuotes`). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written, e.g. `${v:-x}` (`SkipUnsetEnv`). */
  skipUnsetEnv?: boolean;
}

/** The expansion of one word, with the variables it looked up. */
export interface ProcessWordResult {
  word: string;
  /** Names that were referenced and set (possibly to ''). */
  matched: Set<string>;
  /** Names that were referenced and unset; the basis of undefined-variable lint warnings. */
  unmatched: Set<string>;
}

/**
 * Expands shell words the way BuildKit's Dockerfile frontend does for
 * instruction arguments:
 * - `'…'` is literal; `"…"` expands `$` and honours escapes of `"`, `$` and the escape token only.
 * - The escape token escapes any character outside quotes; a trailing one is dropped.
 * - `$name`, `${name}`; a name is letters/digits/`_`, or all digits, or one of `@*#?-$!0`.
 *   `$` followed by anything else is kept literally.
 * - Modifiers `${v-w}` `${v:-w}` `${v+w}` `${v:+w}` `${v?w}` `${v:?w}` `${v#p}` `${v##p}`
 *   `${v%p}` `${v%%p}` `${v/p/r}` `${v//p/r}`; anything else is SHELL_SYNTAX.
 * - `<<` plus following blanks stays glued to the next word (heredoc markers).
 *
 * Instances are stateless between calls and safe to reuse. Errors are
 * {@link ShellError}.
 *
 * Differences from BuildKit 73ed6825, on purpose: `processWords` keeps text
 * that precedes a `${v:-w}`-style expansion in the same word (upstream's
 * ProcessWords loses it because nested scans share one buffer:
 * `hello${x:-a}b` gives ["ab"] there, ["helloab"] here and in ProcessWord);
 * an unterminated `${name` reports "missing '}'" where upstream says
 * "unsupported modifier (\uFFFD)".
 */
export class ShellLexer {
  readonly escapeToken: EscapeToken;
  readonly options: Readonly<ShellLexerOptions>;

  constructor(escapeToken: EscapeToken = '\\', options: ShellLexerOptions = {}) {
    this.escapeToken = escapeToken;
    this.options = { ...options };
  }

  /**
   * Expands `word` as one word (BuildKit `ProcessWordWithMatches`): no
   * splitting, whitespace kept. `opts` overrides the lexer's options for
   * this call.
   */
  processWord(word: string, env: EnvLookup, opts?: ShellLexerOptions): ProcessWordResult {
    const state = this.run(word, env, opts);
    return { word: state.result.text, matched: state.matched, unmatched: state.unmatched };
  }

  /**
   * Expands `word` and splits it into words (BuildKit `ProcessWords`):
   * whitespace from variable values or unquoted text splits, whitespace from
   * quotes or escapes does not, and empty words are dropped.
   */
  processWords(word: string, env: EnvLookup, opts?: ShellLexerOptions): string[] {
    return this.run(word, env, opts).result.words;
  }

  private run(word: string, env: EnvLookup, opts: ShellLexerOptions | undefined) {
    const options = opts === undefined ? this.options : { ...this.options, ...opts };
    const expansion = new Expansion(word, env, this.escapeToken, options);
    try {
      const result = expansion.processStopOn(undefined, options.rawEscapes ?? false);
      return { result, ...expansion.captures() };
    } catch (err) {
      if (!(err instanceof ShellFailure)) throw err;
      const fields = { word, detail: err.detail, ...(err.variable === undefined ? {} : { variable: err.variable }) };
      throw new ShellError(err.code, `failed to process ${JSON.stringify(word)}: ${err.detail}`, fields);
    }
  }
}

const MISSING_BRACE = "syntax error: missing '}'";
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);
const DIGIT = /^\p{Nd}$/u;
const NAME_CHAR = /^[\p{L}\p{Nd}_]$/u;

interface Processed {
  text: string;
  words: string[];
}

/** One expansion: a code-point cursor over the input plus the lookups seen. */
class Expansion {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes = false;
  private readonly matched = new Set<string>();
  private readonly unmatched = new Set<string>();

  constructor(
    source: string,
    private readonly env: EnvLookup,
    private readonly escapeToken: string,
    private readonly opts: ShellLexerOptions,
  ) {
    this.chars = Array.from(source);
  }

  captures(): { matched: Set<string>; unmatched: Set<string> } {
    return { matched: this.matched, unmatched: this.unmatched };
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  /** Processes up to `stop` (consumed) or the end of input when `stop` is undefined. */
  processStopOn(stop: string | undefined, rawEscapes: boolean): Processed {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.scan(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private scan(stop: string | undefined): Processed {
    let text = '';
    const words = new WordCollector();
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (ch === stop) {
        this.next();
        return { text, words: words.finish() };
      }
      const special = this.special(ch);
      if (special !== undefined) {
        const expanded = special();
        text += expanded;
        if (ch === '$') words.addString(expanded);
        else words.addRawString(expanded);
        continue;
      }
      let c = this.next()!;
      if (c === this.escapeToken) {
        if (this.rawEscapes) {
          words.addRawChar(c);
          text += c;
        }
        const escaped = this.next();
        if (escaped === undefined) break;
        c = escaped;
        words.addRawChar(c);
      } else {
        words.addChar(c);
      }
      text += c;
    }
    if (stop !== undefined) {
      throw new ShellFailure('SHELL_SYNTAX', `unexpected end of statement while looking for matching ${stop}`);
    }
    return { text, words: words.finish() };
  }

  private special(ch: string): (() => string) | undefined {
    if (ch === '$') return () => this.processDollar();
    if (ch === '<') return () => this.processPossibleHeredoc();
    if (this.opts.skipProcessQuotes) return undefined;
    if (ch === "'") return () => this.processSingleQuote();
    if (ch === '"') return () => this.processDoubleQuote();
    return undefined;
  }

  private processSingleQuote(): string {
    const quote = this.next()!;
    let out = this.opts.rawQuotes ? quote : '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) {
        throw new ShellFailure('SHELL_SYNTAX', 'unexpected end of statement while looking for matching single-quote');
      }
      if (ch === "'") return this.opts.rawQuotes ? out + ch : out;
      out += ch;
    }
  }

  private processDoubleQuote(): string {
    const quote = this.next()!;
    let out = this.opts.rawQuotes ? quote : '';
    for (;;) {
      const peeked = this.peek();
      if (peeked === undefined) {
        throw new ShellFailure('SHELL_SYNTAX', 'unexpected end of statement while looking for matching double-quote');
      }
      if (peeked === '"') {
        this.next();
        return this.opts.rawQuotes ? out + peeked : out;
      }
      if (peeked === '$') {
        out += this.processDollar();
        continue;
      }
      let ch = this.next()!;
      if (ch === this.escapeToken) {
        if (this.rawEscapes) out += ch;
        const after = this.peek();
        // A trailing escape is dropped; the loop then reports the open quote.
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === this.escapeToken) ch = this.next()!;
      }
      out += ch;
    }
  }

  /** `<<` and the blanks after it stay one raw chunk so `<< EOF` is one word. */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let out = '<<';
    for (let ch = this.peek(); ch === ' ' || ch === '\t' || ch === '\r'; ch = this.peek()) out += this.next()!;
    return out;
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined) return this.opts.skipUnsetEnv ? `$${name}` : '';
      return value;
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new ShellFailure('SHELL_SYNTAX', MISSING_BRACE);
    if (first === '{' || first === '}' || first === ':') {
      throw new ShellFailure('SHELL_SYNTAX', 'syntax error: bad substitution');
    }
    const name = this.processName();
    const op = this.next();
    switch (op) {
      case undefined:
        throw new ShellFailure('SHELL_SYNTAX', MISSING_BRACE);
      case '}': {
        const value = this.getEnv(name);
        if (value === undefined) return this.opts.skipUnsetEnv ? `\${${name}}` : '';
        return value;
      }
      case ':':
        return this.processModifier(name, this.next() ?? '', true);
      case '+':
      case '-':
      case '?':
      case '#':
      case '%':
        return this.processModifier(name, op, false);
      case '/':
        return this.processSubstitution(name);
      default:
        throw unsupported(op);
    }
  }

  /** `${name<op>word}` and `${name:<op>word}` (`nullIsUnset`). */
  private processModifier(name: string, op: string, nullIsUnset: boolean): string {
    const chs = nullIsUnset ? `:${op}` : op;
    const isPattern = op === '#' || op === '%';
    if (nullIsUnset && isPattern) throw unsupported(chs);
    let word = this.processUntil('}', isPattern, MISSING_BRACE);
    const value = this.getEnv(name);
    if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}${chs}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === '');
    switch (op) {
      case '-':
        return unset ? word : value!;
      case '+':
        return unset ? '' : word;
      case '?':
        if (value === undefined || (nullIsUnset && value === '')) {
          const reason = word !== '' ? word : value === undefined ? 'is not allowed to be unset' : 'is not allowed to be empty';
          throw new ShellFailure('SHELL_VAR_REQUIRED', `${name}: ${reason}`, name);
        }
        return value;
      case '#':
      case '%': {
        // A doubled operator (`##`, `%%`) asks for the longest match.
        const greedy = word.startsWith(op);
        if (greedy) word = word.slice(1);
        return op === '%' ? trimPatternSuffix(word, value ?? '', greedy) : trimPatternPrefix(word, value ?? '', greedy);
      }
      default:
        throw unsupported(chs);
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`. */
  private processSubstitution(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    const pattern = this.processUntil('/', true, "syntax error: missing '/' in ${}");
    const replacement = this.processUntil('}', true, MISSING_BRACE);
    const value = this.getEnv(name);
    if (this.opts.skipUnsetEnv && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
    return replacePattern(value ?? '', pattern, replacement, all);
  }

  /** processStopOn, but a failure at end of input becomes `atEnd` (BuildKit's wording). */
  private processUntil(stop: string, rawEscapes: boolean, atEnd: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).text;
    } catch (err) {
      if (err instanceof ShellFailure && this.peek() === undefined) throw new ShellFailure('SHELL_SYNTAX', atEnd);
      throw err;
    }
  }

  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && DIGIT.test(ch)) {
        while (DIGIT.test(this.peek() ?? '')) name += this.next()!;
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) return this.next()!;
      if (!NAME_CHAR.test(ch)) break;
      name += this.next()!;
    }
    return name;
  }

  private getEnv(name: string): string | undefined {
    const value = lookupEnv(this.env, name);
    (value === undefined ? this.unmatched : this.matched).add(name);
    return value;
  }
}

function unsupported(modifier: string): ShellFailure {
  return new ShellFailure('SHELL_SYNTAX', `unsupported modifier (${modifier}) in substitution`);
}
