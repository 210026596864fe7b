/**
 * Small Go-compatible text helpers for mount specs: a one-record CSV reader
 * with encoding/csv's strict quote rules (as tonistiigi/go-csvvalue), and
 * Go's path.Clean / path.Base.
 */

/** A CSV syntax error, message as Go's csv.ParseError. */
export class CsvError extends Error {}

const BARE_QUOTE = 'bare " in non-quoted-field';
const EXTRA_QUOTE = 'extraneous or missing " in quoted-field';

function csvError(byteOffset: number, what: string): CsvError {
  return new CsvError(`parse error on line 1, column ${byteOffset + 1}: ${what}`);
}

/**
 * Splits one CSV record on `,`. A field starting with `"` is quoted (`""` is
 * a literal quote) and must end at a `,` or the end; a `"` elsewhere is an
 * error. One trailing newline is ignored; an empty record is `EOF`.
 * Columns in errors are 1-based byte offsets, as Go reports them.
 */
export function parseCsvRecord(input: string): string[] {
  let line = input.endsWith('\r\n') ? input.slice(0, -2) : input.endsWith('\n') ? input.slice(0, -1) : input;
  if (line === '') throw new CsvError('EOF');
  const fields: string[] = [];
  let pos = 0; // byte offset of `line` in the record
  for (;;) {
    if (!line.startsWith('"')) {
      const comma = line.indexOf(',');
      const field = comma === -1 ? line : line.slice(0, comma);
      const quote = field.indexOf('"');
      if (quote !== -1) throw csvError(pos + bytes(field.slice(0, quote)), BARE_QUOTE);
      fields.push(field);
      if (comma === -1) return fields;
      pos += bytes(field) + 1;
      line = line.slice(comma + 1);
      continue;
    }
    const [field, rest, consumed] = quotedField(line, pos);
    fields.push(field);
    if (rest === undefined) return fields;
    pos += consumed;
    line = rest;
  }
}

/** Reads a quoted field at the start of `line`; returns the field, the rest after its comma (undefined at end), bytes consumed. */
function quotedField(line: string, pos: number): [string, string | undefined, number] {
  let field = '';
  let i = 1;
  for (;;) {
    const quote = line.indexOf('"', i);
    if (quote === -1) throw csvError(pos + bytes(line.slice(0, i)), EXTRA_QUOTE);
    field += line.slice(i, quote);
    const next = line[quote + 1];
    if (next === '"') {
      field += '"';
      i = quote + 2;
    } else if (next === ',') {
      return [field, line.slice(quote + 2), bytes(line.slice(0, quote + 2))];
    } else if (next === undefined) {
      return [field, undefined, bytes(line)];
    } else {
      throw csvError(pos + bytes(line.slice(0, quote)), EXTRA_QUOTE);
    }
  }
}

function bytes(text: string): number {
  return Buffer.byteLength(text);
}

/** Go's path.Clean: lexical, `/`-separated; '' → '.'. */
export function goPathClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else {
      out.push(part);
    }
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Go's path.Base: last element after trimming trailing slashes; '' → '.', all slashes → '/'. */
export function goPathBase(p: string): string {
  if (p === '') return '.';
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}
