/**
 * Test kit: the JSON Web Tokens a Distribution registry accepts from its
 * token server (docs/spec/auth/jwt.md): ES256, compact serialization,
 * signature as raw r‖s (JWS, RFC 7518 §3.4; the DER form Node writes by
 * default is rejected), header `kid` naming the key the way libtrust does.
 */
import { type KeyObject, createHash, createPublicKey, randomBytes, sign } from 'node:crypto';

/** One grant inside a token: `{type: 'repository', name: 'alice/app', actions: ['pull']}`. */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** The claims of a registry token. `aud` is a string: Distribution 2.8 does not accept an array. */
export interface RegistryClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessEntry[];
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * libtrust's key id: SHA-256 of the DER SubjectPublicKeyInfo, first 30 bytes
 * (240 bits = 48 base32 characters, so no padding), in 12 groups of 4 joined
 * by `:`. The registry indexes the keys of its rootcertbundle by this id and
 * looks up a token's `kid` in that index.
 */
export function libtrustKeyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ type: 'spki', format: 'der' });
  const id = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return id.match(/.{4}/g)!.join(':');
}

export function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** A fresh random `jti`. */
export function newJti(): string {
  return randomBytes(16).toString('hex');
}

/** Signs `claims` with an EC P-256 private key: `header.claims.signature`, header `{typ, alg: ES256, kid}`. */
export function signJwt(claims: RegistryClaims, key: KeyObject, kid: string): string {
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', kid }));
  const payload = base64url(JSON.stringify(claims));
  const signingInput = `${header}.${payload}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${base64url(signature)}`;
}

/** The decoded header and claims of a compact JWT (no verification: for assertions in tests). */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: RegistryClaims } {
  const [h, c] = token.split('.');
  if (h === undefined || c === undefined) throw new Error('not a compact JWT');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as RegistryClaims,
  };
}
