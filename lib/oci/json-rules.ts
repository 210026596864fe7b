/**
 * String formats the OCI schemas and upstream's Go validation require. Each
 * predicate is pure and total: any string in, a boolean out.
 */

// defs-descriptor.json#/definitions/mediaType: RFC 6838 restricted names,
// type and subtype each 1..127 characters, no parameters.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** True for a media type the OCI schemas accept (`type/subtype`, RFC 6838 characters). */
export function isMediaType(s: string): boolean {
  return MEDIA_TYPE.test(s);
}

// RFC 3986 section 3, absolute URI with optional fragment. The IPv6 literal
// is checked only for its character set; a registry never sees these URLs
// resolved by kiln, so exact address grammar is not worth the size.
const PCHAR = String.raw`(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})`;
const QUERY = String.raw`(?:${PCHAR}|[/?])*`;
const REG_NAME = String.raw`(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*`;
const USERINFO = String.raw`(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*`;
const IP_LITERAL = String.raw`\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]`;
const AUTHORITY = String.raw`(?:${USERINFO}@)?(?:${IP_LITERAL}|${REG_NAME})(?::[0-9]*)?`;
const HIER_PART = String.raw`(?://${AUTHORITY}(?:/${PCHAR}*)*|(?!//)(?:${PCHAR}|/)*)`;
const URI = new RegExp(String.raw`^[A-Za-z][A-Za-z0-9+.\-]*:${HIER_PART}(?:\?${QUERY})?(?:#${QUERY})?$`);

/** True for an absolute URI (RFC 3986 `URI`: scheme required), as JSON Schema `format: uri`. */
export function isUri(s: string): boolean {
  return URI.test(s);
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** True for standard base64 (RFC 4648 section 4) with padding: what Go's `[]byte` JSON field accepts. */
export function isStdBase64(s: string): boolean {
  return STD_BASE64.test(s);
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * True for an RFC 3339 `date-time` with every field in range. A leap second
 * (`:60`) is rejected: Go's time.Time, which upstream decodes into, refuses it.
 */
export function isDateTime(s: string): boolean {
  const m = DATE_TIME.exec(s);
  if (m === null) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offH = 0, offM = 0] = m.slice(1).map((x) => Number(x ?? 0));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  return hour <= 23 && minute <= 59 && second <= 59 && offH <= 23 && offM <= 59;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

// Upstream's Go check is `^[^=]+=.*$`; Go's `.` stops only at `\n`, so the
// translation spells that out instead of using JavaScript's `.`.
const ENV_ENTRY = /^[^=]+=[^\n]*$/;

/** True for a config `Env` entry `NAME=value` (name non-empty, value without a newline). */
export function isEnvEntry(s: string): boolean {
  return ENV_ENTRY.test(s);
}
