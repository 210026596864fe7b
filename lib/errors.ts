/**
 * The one error hierarchy of kiln. Every failure that reaches a user carries a
 * stable `code` (UPPER_SNAKE, part of the CLI contract: scripts match on it),
 * structured fields, and the underlying `cause`. Subclasses name a failure
 * family; the message is for humans and may change.
 */
export interface SourceLocation {
  file: string;
  line: number;
  /** Last line of a multi-line instruction, 1-based inclusive. */
  endLine?: number;
  /** 1-based column of the offending word, when known. */
  column?: number;
}

export interface KilnErrorOptions {
  cause?: unknown;
  location?: SourceLocation;
  [field: string]: unknown;
}

export class KilnError extends Error {
  readonly code: string;
  readonly location: SourceLocation | undefined;
  readonly fields: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, options: KilnErrorOptions = {}) {
    const { cause, location, ...fields } = options;
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.location = location;
    this.fields = fields;
  }

  /** One line for a terminal: `file:line: CODE: message`. */
  toLine(): string {
    const l = this.location;
    const where = l ? `${l.file}:${l.line}${l.column !== undefined ? `:${l.column}` : ''}: ` : '';
    return `${where}${this.code}: ${this.message}`;
  }
}

/** Exhaustiveness guard for discriminated unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new KilnError('INTERNAL', `unexpected ${what}: ${JSON.stringify(value)}`);
}
