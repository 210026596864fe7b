/** One authentication challenge from a `WWW-Authenticate` header (RFC 7235). */
export interface Challenge {
  /** Lower-cased scheme: `bearer`, `basic`, … */
  scheme: string;
  /** Parameters with lower-cased names (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[A-Za-z0-9!#$%&'*+.^_`|~-]/;

/**
 * Parses every challenge of one or more `WWW-Authenticate` header values:
 * several challenges per value separated by commas (`Bearer realm="a",
 * service="b", Basic realm="c"`), quoted strings with backslash escapes,
 * unquoted token values. Unparseable bits are skipped, never thrown on: the
 * caller decides what a missing challenge means.
 */
export function parseWwwAuthenticate(value: string | readonly string[] | undefined): Challenge[] {
  if (value === undefined) return [];
  if (typeof value !== 'string') return value.flatMap((v) => parseWwwAuthenticate(v));
  const p = new Cursor(value);
  const out: Challenge[] = [];
  while (!p.done()) {
    p.skip(/[\s,]/);
    const scheme = p.token();
    if (scheme === '') {
      p.pos++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    parseParams(p, challenge);
  }
  return out;
}

function parseParams(p: Cursor, challenge: Challenge): void {
  for (;;) {
    p.skip(/[\s,]/);
    const start = p.pos;
    const name = p.token();
    if (name === '') return;
    p.skip(/\s/);
    if (p.peek() !== '=') {
      // A token not followed by '=' starts the next challenge.
      p.pos = start;
      return;
    }
    p.pos++;
    p.skip(/\s/);
    const v = p.peek() === '"' ? p.quoted() : p.until(/[\s,]/);
    challenge.params[name.toLowerCase()] = v;
  }
}

class Cursor {
  pos = 0;
  constructor(readonly s: string) {}

  done(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): string {
    return this.s[this.pos] ?? '';
  }

  skip(re: RegExp): void {
    while (!this.done() && re.test(this.peek())) this.pos++;
  }

  token(): string {
    const start = this.pos;
    while (!this.done() && TOKEN_CHAR.test(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }

  until(re: RegExp): string {
    const start = this.pos;
    while (!this.done() && !re.test(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }

  /** A quoted-string; `\x` stands for `x`. An unterminated string runs to the end. */
  quoted(): string {
    this.pos++;
    let out = '';
    while (!this.done()) {
      const c = this.peek();
      this.pos++;
      if (c === '"') return out;
      if (c === '\\' && !this.done()) {
        out += this.peek();
        this.pos++;
      } else {
        out += c;
      }
    }
    return out;
  }
}
