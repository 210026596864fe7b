/**
 * The registry fault matrix's plan (issue 9): the fault kinds, which
 * request of a pull or a push each one hits (first only, every Nth, seeded
 * random, always), the proxy rule that applies them, the error codes each
 * kind may end in, and independent checks of what a registry holds (plain
 * node:http and node:crypto, not kiln's client).
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { prng } from '../helpers/random-image.ts';
import type { Fault, FaultRule } from '../registry/fault-proxy.ts';

export const FAULT_KINDS = [
  'reset', 'status-500', 'status-502', 'status-503', 'too-many-requests', 'truncate',
  'length-more', 'length-fewer', 'trickle', 'stall', 'bad-digest',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type Side = 'pull' | 'push';

/** What a request of a pull or a push is, for targeting. */
export type RequestClass = 'manifest' | 'blob' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'manifest-put';
/** A class, or `any` of the side's classes. */
export type Target = RequestClass | 'any';

export type Schedule = { kind: 'first' } | { kind: 'nth'; n: number } | { kind: 'random'; p: number } | { kind: 'always' };

/** One operation's plan: which requests are faulted. */
export interface OpPlan {
  kind: FaultKind;
  side: Side;
  round: number;
  schedule: Schedule;
  target: Target;
  /** 0 or 1: which form of the fault (see {@link faultFor}). */
  variant: number;
}

/**
 * Codes an operation may fail with, per kind and side: what the fault
 * means once retries and resumes are used up. Anything else (or an error
 * that is not a KilnError) fails the matrix.
 */
export const EXPECTED_CODES: Record<FaultKind, Record<Side, readonly string[]>> = {
  'reset': { pull: ['REGISTRY_UNREACHABLE', 'BLOB_TRUNCATED'], push: ['REGISTRY_UNREACHABLE'] },
  'status-500': { pull: ['REGISTRY_UNAVAILABLE'], push: ['REGISTRY_UNAVAILABLE'] },
  'status-502': { pull: ['REGISTRY_UNAVAILABLE'], push: ['REGISTRY_UNAVAILABLE'] },
  'status-503': { pull: ['REGISTRY_UNAVAILABLE'], push: ['REGISTRY_UNAVAILABLE'] },
  'too-many-requests': { pull: ['TOOMANYREQUESTS'], push: ['TOOMANYREQUESTS'] },
  // A body that ends early: a blob is resumed, a manifest is short (not JSON, or not its digest).
  'truncate': { pull: ['BLOB_TRUNCATED', 'MANIFEST_INVALID', 'DIGEST_MISMATCH'], push: ['DIGEST_INVALID', 'BLOB_UPLOAD_INVALID', 'SIZE_INVALID', 'MANIFEST_INVALID', 'REGISTRY_PROTOCOL'] },
  'length-more': { pull: ['REGISTRY_UNREACHABLE', 'REGISTRY_TIMEOUT', 'BLOB_TRUNCATED'], push: ['REGISTRY_UNREACHABLE', 'REGISTRY_TIMEOUT'] },
  'length-fewer': {
    pull: ['BLOB_TRUNCATED', 'MANIFEST_INVALID', 'DIGEST_MISMATCH', 'REGISTRY_UNREACHABLE'],
    push: ['DIGEST_INVALID', 'BLOB_UPLOAD_INVALID', 'SIZE_INVALID', 'MANIFEST_INVALID', 'REGISTRY_PROTOCOL', 'REGISTRY_UNREACHABLE'],
  },
  'trickle': { pull: ['REGISTRY_TIMEOUT', 'BLOB_TRUNCATED'], push: ['REGISTRY_TIMEOUT'] },
  'stall': { pull: ['REGISTRY_TIMEOUT', 'BLOB_TRUNCATED'], push: ['REGISTRY_TIMEOUT'] },
  'bad-digest': { pull: ['DIGEST_MISMATCH'], push: ['DIGEST_INVALID', 'DIGEST_MISMATCH', 'MANIFEST_INVALID'] },
};

/** Kinds whose first fault is always recovered from by a retry or a resume (when it hits a blob, for the pull side). */
export const RECOVERABLE: ReadonlySet<FaultKind> = new Set(['reset', 'status-500', 'status-502', 'status-503', 'too-many-requests', 'length-more', 'trickle', 'stall']);

/** Request classes a kind applies to: faults that change a request body need one. */
function targets(kind: FaultKind, side: Side): Target[] {
  if (side === 'pull') return ['manifest', 'blob', 'any'];
  if (kind === 'truncate' || kind === 'length-fewer' || kind === 'bad-digest') return ['PATCH', 'PUT', 'manifest-put', 'any'];
  return ['HEAD', 'POST', 'PATCH', 'PUT', 'manifest-put', 'any'];
}

/**
 * The plan of round `round`. The (schedule, target) pairs are taken in
 * this order: `first` on each target, `always` on each target, then `every
 * Nth` and `random` alternating over the targets, and again; so 20 rounds
 * give every target a single fault and a permanent one, and the rest a mix.
 * `variant` picks between the two forms some kinds take (a reset before or
 * after the registry acted, a stall in the head or in the body, …); it
 * flips between the blocks so that a target meets both.
 */
export function planFor(kind: FaultKind, side: Side, round: number): OpPlan {
  const ts = targets(kind, side);
  const nth: Schedule = { kind: 'nth', n: 2 + (round % 2) };
  const random: Schedule = { kind: 'random', p: 0.3 };
  const order: { schedule: Schedule; target: Target }[] = [
    ...ts.map((target) => ({ schedule: { kind: 'first' } as Schedule, target })),
    ...ts.map((target) => ({ schedule: { kind: 'always' } as Schedule, target })),
    ...ts.map((target, i) => ({ schedule: i % 2 === 0 ? nth : random, target })),
    ...ts.map((target, i) => ({ schedule: i % 2 === 0 ? random : nth, target })),
  ];
  const { schedule, target } = order[round % order.length]!;
  return { kind, side, round, schedule, target, variant: (round + Math.floor(round / ts.length)) % 2 };
}

/** The class of a request, or undefined for requests no fault targets (pings, tag lists). */
export function classify(method: string, path: string): RequestClass | undefined {
  if (!path.startsWith('/v2/') || path === '/v2/') return undefined;
  if (path.includes('/manifests/')) return method === 'GET' ? 'manifest' : method === 'PUT' ? 'manifest-put' : undefined;
  if (path.includes('/blobs/uploads/')) return method === 'POST' ? 'POST' : method === 'PATCH' ? 'PATCH' : method === 'PUT' ? 'PUT' : undefined;
  if (path.includes('/blobs/')) return method === 'GET' ? 'blob' : method === 'HEAD' ? 'HEAD' : undefined;
  return undefined;
}

const errorBody = (code: string, message: string): string => JSON.stringify({ errors: [{ code, message }] });
const json = { 'content-type': 'application/json' };

/** A copy of `b` with its byte at `at` (default the middle) flipped. */
export function flipByte(b: Buffer, at = b.length >> 1): Buffer {
  const c = Buffer.from(b);
  if (c.length > 0) c[Math.min(at, c.length - 1)]! ^= 0x5a;
  return c;
}

/** The fault of the plan's kind for one request of class `cls` (whose request body is `contentLength` bytes). */
export function faultFor(plan: OpPlan, cls: RequestClass, contentLength: number): Fault {
  const odd = plan.variant === 1;
  const pull = plan.side === 'pull';
  const hasBody = contentLength > 0;
  switch (plan.kind) {
    case 'reset':
      if (pull) return { cutAfter: (n) => n >> 1 };
      if (odd && cls !== 'HEAD' && cls !== 'POST') return { dropAnswer: 'close' };
      return hasBody ? { cutRequestAfter: (n) => n >> 1 } : { hangUp: true };
    case 'status-500':
    case 'status-502':
    case 'status-503': {
      const status = Number(plan.kind.slice(-3));
      return { respond: { status, headers: json, body: errorBody('UNKNOWN', `injected ${status}`) } };
    }
    case 'too-many-requests': {
      const retryAfter = odd ? new Date(Date.now() + 2000).toUTCString() : '1';
      return { respond: { status: 429, headers: { ...json, 'retry-after': retryAfter }, body: errorBody('TOOMANYREQUESTS', 'slow down') } };
    }
    case 'truncate':
      return pull ? { endAfter: (n) => n >> 1 } : { mutateRequest: (b) => b.subarray(0, b.length >> 1) };
    case 'length-more':
      return { contentLength: (n) => n + 100, afterBody: odd ? 'hold' : 'close' };
    case 'length-fewer':
      return pull ? { contentLength: (n) => Math.floor((n * 2) / 3) } : { requestContentLength: (n) => Math.floor((n * 2) / 3) };
    case 'trickle':
      if (plan.schedule.kind === 'always') return { trickle: { bytes: 64, everyMs: 1200 } };
      return { trickle: pull ? { bytes: 2048, everyMs: 15 } : { bytes: 32, everyMs: 15 } };
    case 'stall':
      if (pull) return odd ? { stallAfter: (n) => n >> 1 } : { stallHead: 40 };
      return odd ? { stallHead: 40 } : { dropAnswer: 'hold' };
    case 'bad-digest': {
      if (pull) return { mutateBody: (b) => flipByte(b) };
      const wrong = { setHeaders: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` } };
      if (cls === 'manifest-put') return odd ? { mutateRequest: (b) => flipByte(b, 0) } : wrong;
      return hasBody && (odd || cls === 'PATCH') ? { mutateRequest: (b) => flipByte(b) } : wrong;
    }
  }
}

/** What one operation's rule did. */
export interface RuleState {
  /** Requests of the targeted classes seen. */
  targeted: number;
  /** Of those, faulted. */
  faulted: number;
}

/** The proxy rule of one operation: counts the targeted requests and faults those the schedule picks. */
export function ruleFor(plan: OpPlan, seed: number): { rule: FaultRule; state: RuleState } {
  const state: RuleState = { targeted: 0, faulted: 0 };
  const random = prng(seed);
  const rule: FaultRule = (req) => {
    const cls = classify(req.method, req.path);
    if (cls === undefined) return undefined;
    const pullSide = cls === 'manifest' || cls === 'blob';
    if (pullSide !== (plan.side === 'pull')) return undefined;
    if (plan.target !== 'any' && plan.target !== cls) return undefined;
    const length = Number(req.headers['content-length'] ?? 0);
    // Faults that change what the registry receives need a body to change.
    if (plan.side === 'push' && (plan.kind === 'truncate' || plan.kind === 'length-fewer') && !(length > 0)) return undefined;
    const n = ++state.targeted;
    const hit = plan.schedule.kind === 'first' ? n === 1
      : plan.schedule.kind === 'nth' ? n % plan.schedule.n === 0
        : plan.schedule.kind === 'random' ? random() < plan.schedule.p
          : true;
    if (!hit) return undefined;
    state.faulted++;
    return faultFor(plan, cls, Number.isSafeInteger(length) ? length : 0);
  };
  return { rule, state };
}

export function describePlan(p: OpPlan): string {
  const s = p.schedule.kind === 'nth' ? `every ${p.schedule.n}${p.schedule.n === 2 ? 'nd' : p.schedule.n === 3 ? 'rd' : 'th'}` : p.schedule.kind === 'random' ? `random p=${p.schedule.p}` : p.schedule.kind;
  return `${p.side} #${p.round} (${s} ${p.target}${p.variant === 1 ? ', variant b' : ''})`;
}

/** A GET (or HEAD) straight to a registry, not through any proxy. */
export function rawGet(base: string, path: string, accept?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, headers: accept !== undefined ? { accept } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export const sha256Hex = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/**
 * What a repository of the registry holds under `reference`, checked
 * without kiln: undefined when nothing; else the manifest's digest
 * (node:crypto over the bytes, which must agree with the registry's
 * Docker-Content-Digest), after checking that every blob and child
 * manifest it references is there and hashes to its digest. Returns the
 * problems found.
 */
export async function registryHolds(base: string, repo: string, reference: string): Promise<{ digest: string | undefined; problems: string[] }> {
  const problems: string[] = [];
  const top = await rawGet(base, `/v2/${repo}/manifests/${reference}`, ACCEPT);
  if (top.status === 404) return { digest: undefined, problems };
  if (top.status !== 200) return { digest: undefined, problems: [`${repo}:${reference}: GET manifest answered ${top.status}`] };
  const digest = sha256Hex(top.body);
  if (top.headers['docker-content-digest'] !== digest) problems.push(`${repo}:${reference}: registry says ${String(top.headers['docker-content-digest'])}, bytes hash to ${digest}`);
  const check = async (bytes: Buffer, where: string): Promise<void> => {
    const doc = JSON.parse(bytes.toString('utf8')) as { manifests?: { digest: string }[]; config?: { digest: string; size: number }; layers?: { digest: string; size: number }[] };
    for (const child of doc.manifests ?? []) {
      const m = await rawGet(base, `/v2/${repo}/manifests/${child.digest}`, ACCEPT);
      if (m.status !== 200 || sha256Hex(m.body) !== child.digest) problems.push(`${where}: child manifest ${child.digest} missing or wrong (${m.status})`);
      else await check(m.body, `${where} > ${child.digest}`);
    }
    for (const blob of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
      const b = await rawGet(base, `/v2/${repo}/blobs/${blob.digest}`);
      if (b.status !== 200 || b.body.length !== blob.size || sha256Hex(b.body) !== blob.digest) problems.push(`${where}: blob ${blob.digest} missing or wrong (${b.status}, ${b.body.length} bytes)`);
    }
  };
  await check(top.body, `${repo}:${reference}`);
  return { digest, problems };
}
