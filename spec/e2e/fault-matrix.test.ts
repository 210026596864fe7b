/**
 * Issue 9, the registry fault matrix: under each fault kind (a reset
 * mid-body, 500, 502, 503, 429 with Retry-After, a truncated body, a
 * Content-Length announcing more or fewer bytes than sent, a trickle, a
 * stall, bytes that do not match their digest), FAULT_ROUNDS pulls and as
 * many pushes of multi-layer images (an OCI image, a Docker image, a
 * two-platform index, pushed by skopeo) go through a fault-injecting proxy
 * in front of a real registry. Which request is faulted varies by round:
 * the first only, every Nth, seeded random, always; manifest or blob GETs;
 * HEAD, POST, PATCH, PUT or manifest PUT. Every operation must either
 * succeed with the digest skopeo pushed, or fail with a KilnError whose
 * code the kind explains, within a watchdog — never hang, never throw
 * anything else. Afterwards every store used is fsck-clean with no temp
 * files left, and whatever the registry holds for a pushed tag is whole
 * (checked straight at the registry with node:http and node:crypto).
 *
 * Operations run in-process (copyImage with a RegistryClient with 1 s
 * timeouts and short backoff), each through a proxy of its own, many at
 * once. One `kiln pull`/`kiln push` per kind shows what a user sees.
 *
 * Knobs: FAULT_ROUNDS (default 20 per side and kind), FAULT_SEED (shifts
 * the random schedules), FAULT_PARALLEL (operations in flight, default 24),
 * FAULT_MESSAGES=1 (print one error message per code and kind).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { copyImage, fsck, KilnError, LocalStore, parseRef, RegistryClient, type RegistryEvent } from '../../lib/index.ts';
import { createLimiter } from '../../lib/registry/index.ts';
import { pushIndex, pushRandomImage } from '../helpers/registry-images.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { type FaultRule, startFaultProxy } from '../registry/fault-proxy.ts';
import {
  EXPECTED_CODES, FAULT_KINDS, type FaultKind, type OpPlan, RECOVERABLE, type Side, classify, describePlan, planFor, rawGet, registryHolds, ruleFor, sha256Hex,
} from './fault-matrix-kit.ts';
import { assertOneError, kiln, literal, newUser, strayFiles } from './registry-kit.ts';

const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 20);
/** Shifts the seeds of the random schedules (a failure names its round; rerun with the same FAULT_SEED to replay it). */
const SEED = Number(process.env.FAULT_SEED ?? 0);
/** Operations in flight at once, all kinds together: most of the time is spent waiting for timeouts. */
const PARALLEL = Number(process.env.FAULT_PARALLEL ?? 24);
const SLOW_KINDS: ReadonlySet<FaultKind> = new Set(['stall', 'trickle', 'length-more']);
const WATCHDOG_MS = 15_000;
const TIMEOUT_MS = 1000;
const RETRY_AFTER_CAP_MS = 100;

/** An image in the registry, as skopeo pushed it. */
interface Source {
  repo: string;
  /** What the tag names (skopeo's digest): an image manifest or an index. */
  digest: string;
  /** What a pull for linux/amd64 stores: the manifest, or the index's amd64 manifest. */
  pulledDigest: string;
}

let work: string;
let reg: RunningRegistry;
let pushHome: string;
const sources: Source[] = [];
const limit = createLimiter(PARALLEL);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-fault-matrix-'));
  reg = await startRegistry({ mode: 'open' });
  const size = { files: 4, maxFileSize: 24 << 10 };
  const [oci, docker, index] = await Promise.all([
    pushRandomImage(reg, 'src/oci:v1', { seed: 901, layers: 3, ...size }),
    pushRandomImage(reg, 'src/docker:v1', { seed: 902, layers: 3, format: 'docker', ...size }),
    pushIndex(reg, 'src/index:v1', { seed: 903, layers: 2 }),
  ]);
  sources.push({ repo: 'src/oci', digest: oci.pushedDigest, pulledDigest: oci.pushedDigest });
  sources.push({ repo: 'src/docker', digest: docker.pushedDigest, pulledDigest: docker.pushedDigest });
  sources.push({ repo: 'src/index', digest: index.pushedDigest, pulledDigest: index.images[0]!.manifestDigest });
  // The pushes' source: the three, whole, in one local store, pulled with no proxy in between.
  pushHome = join(work, 'push-source');
  const client = newClient();
  try {
    for (const s of sources) {
      const r = await copyImage({ kind: 'registry', ref: parseRef(`${reg.host}/${s.repo}:v1`) }, { kind: 'local', name: `${s.repo}:v1` }, { client, home: pushHome, platform: { kind: 'all' } });
      assert.equal(r.descriptor.digest, s.digest);
    }
  } finally {
    await client.close();
  }
});

after(async () => {
  await reg?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

function newClient(onEvent?: (e: RegistryEvent) => void): RegistryClient {
  return new RegistryClient({
    env: { HOME: work, DOCKER_CONFIG: join(work, 'no-docker-config') },
    timeouts: { connectMs: TIMEOUT_MS, headersMs: TIMEOUT_MS, bodyIdleMs: TIMEOUT_MS },
    retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 40, maxRetryAfterMs: RETRY_AFTER_CAP_MS },
    // Layers above 24 KiB go up in 16 KiB PATCHes; configs and small layers in one PUT.
    upload: { chunkThreshold: 24 << 10, chunkSize: 16 << 10 },
    ...(onEvent !== undefined ? { onEvent } : {}),
  });
}

/** What one operation did. */
interface Outcome {
  plan: OpPlan;
  ok: boolean;
  code: string | undefined;
  message: string | undefined;
  ms: number;
  /** Requests the plan targeted, and of those, faulted. */
  targeted: number;
  faulted: number;
  problems: string[];
}

/** `job`, or a rejection with "hang: …" when it neither resolves nor rejects within the watchdog (`ac` is aborted then). */
async function watched<T>(what: string, ac: AbortController, job: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort(new Error('watchdog'));
      reject(new Error(`hang: ${what} neither resolved nor rejected within ${WATCHDOG_MS} ms`));
    }, WATCHDOG_MS);
  });
  try {
    return await Promise.race([job, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks a failure: a KilnError with a code the kind explains, on one line; returns problems. */
function judgeError(plan: OpPlan, err: unknown): { code: string | undefined; problems: string[] } {
  const what = describePlan(plan);
  if (!(err instanceof KilnError)) {
    const e = err as Error | undefined;
    return { code: undefined, problems: [`${what}: not a KilnError: ${e?.constructor?.name ?? typeof err}: ${e?.stack ?? String(err)}`] };
  }
  const problems: string[] = [];
  if (!EXPECTED_CODES[plan.kind][plan.side].includes(err.code)) problems.push(`${what}: unexpected code ${err.code}: ${err.message}`);
  if (err.message.includes('\n') || err.message.length > 500) problems.push(`${what}: message not one short line: ${err.message}`);
  return { code: err.code, problems };
}

async function runOp(plan: OpPlan): Promise<Outcome> {
  const { rule, state } = ruleFor(plan, SEED * 100_000 + FAULT_KINDS.indexOf(plan.kind) * 1000 + plan.round * 2 + (plan.side === 'push' ? 1 : 0));
  const events: RegistryEvent[] = [];
  const proxy = await startFaultProxy(reg.url, rule);
  const client = newClient((e) => events.push(e));
  // The index's layers are small enough to go up in one PUT each: PATCHes need the others.
  const source = plan.target === 'PATCH' ? sources[plan.round % 2]! : sources[plan.round % sources.length]!;
  const home = join(work, plan.kind, `${plan.side}-${plan.round}`);
  const ac = new AbortController();
  const started = Date.now();
  const what = describePlan(plan);
  const out: Outcome = { plan, ok: false, code: undefined, message: undefined, ms: 0, targeted: 0, faulted: 0, problems: [] };
  try {
    const copy = plan.side === 'pull'
      ? copyImage({ kind: 'registry', ref: parseRef(`${proxy.host}/${source.repo}:v1`) }, { kind: 'local', name: 'pulled:v1' }, {
        client, home, platform: { kind: 'platform', platform: { os: 'linux', architecture: 'amd64' } }, tmpDir: work, signal: ac.signal,
      })
      : copyImage({ kind: 'local', name: `${source.repo}:v1` }, { kind: 'registry', ref: parseRef(`${proxy.host}/push/${plan.kind}/r${plan.round}:v1`) }, {
        client, home: pushHome, platform: { kind: 'all' }, signal: ac.signal,
      });
    const r = await watched(what, ac, copy);
    out.ok = true;
    const want = plan.side === 'pull' ? source.pulledDigest : source.digest;
    if (r.descriptor.digest !== want) out.problems.push(`${what}: wrote ${r.descriptor.digest}, expected ${want}`);
    if (r.sourceDigest !== source.digest) out.problems.push(`${what}: source digest ${r.sourceDigest}, expected ${source.digest}`);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('hang:')) out.problems.push(err.message);
    else ({ code: out.code, problems: out.problems } = judgeError(plan, err));
    out.message = (err as Error | undefined)?.message;
  } finally {
    out.ms = Date.now() - started;
    out.targeted = state.targeted;
    out.faulted = state.faulted;
    await watched(`${what} cleanup`, new AbortController(), (async () => {
      await proxy.stop();
      await client.close();
    })()).catch((err: Error) => out.problems.push(err.message));
  }
  if (plan.kind === 'too-many-requests') {
    // Retry-After (1 s, or an HTTP date 1–2 s ahead) was read and capped: backoff alone waits 5–40 ms.
    for (const e of events) {
      if (e.kind === 'retry' && e.code === 'TOOMANYREQUESTS' && e.delayMs !== RETRY_AFTER_CAP_MS) out.problems.push(`${what}: a 429 retry waited ${e.delayMs} ms`);
    }
  }
  out.problems.push(...(plan.side === 'pull' ? await checkPullHome(plan, home, out.ok, source) : await checkPushed(plan, out.ok, source)));
  return out;
}

/** The pull's store: fsck-clean, no temp files, and the name present exactly when the pull succeeded. */
async function checkPullHome(plan: OpPlan, home: string, ok: boolean, source: Source): Promise<string[]> {
  const what = describePlan(plan);
  await mkdir(home, { recursive: true });
  const problems: string[] = [];
  const f = await fsck(home, { repair: false });
  for (const p of f.problems) problems.push(`${what}: fsck: ${p.message}`);
  const stray = strayFiles(home);
  if (stray.length > 0) problems.push(`${what}: temp files left: ${stray.join(', ')}`);
  const named = await new LocalStore(home).resolveDescriptor('pulled:v1');
  if (ok && named?.digest !== source.pulledDigest) problems.push(`${what}: the store names ${named?.digest} after a successful pull`);
  if (!ok && named !== undefined) problems.push(`${what}: the store names ${named.digest} after a failed pull`);
  return problems;
}

/** The registry (asked directly): a pushed tag, if there, is the right manifest with every blob whole. */
async function checkPushed(plan: OpPlan, ok: boolean, source: Source): Promise<string[]> {
  const what = describePlan(plan);
  const held = await registryHolds(reg.url, `push/${plan.kind}/r${plan.round}`, 'v1');
  const problems = held.problems.map((p) => `${what}: registry: ${p}`);
  if (ok && held.digest !== source.digest) problems.push(`${what}: after a successful push the registry holds ${held.digest}, expected ${source.digest}`);
  if (!ok && held.digest !== undefined && held.digest !== source.digest) problems.push(`${what}: after a failed push the registry holds ${held.digest}`);
  return problems;
}

function summary(kind: FaultKind, outcomes: readonly Outcome[]): string {
  const side = (s: Side): string => {
    const mine = outcomes.filter((o) => o.plan.side === s);
    const codes = new Map<string, number>();
    for (const o of mine) if (o.code !== undefined) codes.set(o.code, (codes.get(o.code) ?? 0) + 1);
    const faults = mine.reduce((n, o) => n + o.faulted, 0);
    const slowest = Math.max(...mine.map((o) => o.ms));
    return `${s}: ${mine.filter((o) => o.ok).length} ok, ${mine.filter((o) => !o.ok).length} failed [${[...codes].map(([c, n]) => `${c}×${n}`).join(' ') || '-'}], ${faults} faulted requests, slowest ${slowest} ms`;
  };
  return `${kind}: ${side('pull')}; ${side('push')}`;
}

/** Kinds that wait for timeouts go first, and their `always` rounds first of all: the waits overlap the rest's work. */
const SLOW_FIRST: readonly FaultKind[] = [...FAULT_KINDS].sort((a, b) => Number(SLOW_KINDS.has(b)) - Number(SLOW_KINDS.has(a)));

describe(`fault matrix: ${ROUNDS} pulls and ${ROUNDS} pushes per fault kind`, { concurrency: true }, () => {
  for (const kind of SLOW_FIRST) {
    test(kind, async (t) => {
      const plans = (['pull', 'push'] as const)
        .flatMap((side) => Array.from({ length: ROUNDS }, (_, round) => planFor(kind, side, round)))
        .sort((a, b) => Number(b.schedule.kind === 'always') - Number(a.schedule.kind === 'always'));
      const outcomes = await Promise.all(plans.map((plan) => limit(() => runOp(plan))));
      t.diagnostic(summary(kind, outcomes));
      if (process.env.FAULT_MESSAGES !== undefined) {
        const seen = new Set<string>();
        for (const o of outcomes) if (o.code !== undefined && !seen.has(`${o.plan.side}${o.code}`) && seen.add(`${o.plan.side}${o.code}`)) t.diagnostic(`  ${describePlan(o.plan)}: ${o.code}: ${o.message}`);
      }
      const problems = outcomes.flatMap((o) => o.problems);
      const f = await fsck(pushHome, { repair: false });
      problems.push(...f.problems.map((p) => `push source store: fsck: ${p.message}`));
      assert.deepEqual(problems, []);
      const missed = outcomes.filter((o) => o.faulted === 0 && o.plan.schedule.kind !== 'random' && !(o.plan.schedule.kind === 'nth' && o.targeted < o.plan.schedule.n));
      assert.deepEqual(missed.map((o) => describePlan(o.plan)), [], 'every scheduled fault was applied');
      // Both endings happen: retries and resumes recover, and retries run out.
      assert.ok(outcomes.some((o) => !o.ok), `${kind}: some operation gives up`);
      if (RECOVERABLE.has(kind)) {
        const firstOnly = outcomes.filter((o) => o.plan.schedule.kind === 'first' && (o.plan.side === 'push' || o.plan.target === 'blob'));
        assert.deepEqual(firstOnly.filter((o) => !o.ok).map((o) => `${describePlan(o.plan)}: ${o.code}`), [], `${kind}: a single fault is recovered from`);
      }
    });
  }
});

/** One proxy with a fixed rule, for one CLI run. */
async function withProxy<T>(rule: FaultRule, use: (host: string) => Promise<T>): Promise<T> {
  const proxy = await startFaultProxy(reg.url, rule);
  try {
    return await use(proxy.host);
  } finally {
    await proxy.stop();
  }
}

const onClass = (cls: string, fault: NonNullable<ReturnType<FaultRule>>, times = Infinity): FaultRule => {
  let n = 0;
  return (req) => (classify(req.method, req.path) === cls && n++ < times ? fault : undefined);
};

/** `kiln pull`/`kiln push` through a faulty proxy: the one line a user sees, or the recovery (with its retry notice). */
describe('the kiln command under one fault of each kind', { concurrency: true }, () => {
  interface CliCase {
    kind: FaultKind;
    side: Side;
    rule: FaultRule;
    /** The code of the ERROR line, or undefined for a run that recovers. */
    code: RegExp | undefined;
    stderr?: RegExp;
    env?: NodeJS.ProcessEnv;
  }
  const cases: CliCase[] = [
    { kind: 'reset', side: 'pull', rule: onClass('blob', { cutAfter: (n) => n >> 1, stripHeaders: ['accept-ranges'] }), code: /BLOB_TRUNCATED/ },
    { kind: 'status-500', side: 'push', rule: onClass('POST', { respond: { status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"boom"}]}' } }), code: /REGISTRY_UNAVAILABLE/ },
    { kind: 'status-502', side: 'pull', rule: onClass('manifest', { respond: { status: 502, body: '<html>bad gateway</html>' } }), code: /REGISTRY_UNAVAILABLE/ },
    { kind: 'status-503', side: 'push', rule: onClass('manifest-put', { respond: { status: 503, body: '' } }), code: /REGISTRY_UNAVAILABLE/ },
    { kind: 'too-many-requests', side: 'pull', rule: onClass('manifest', { respond: { status: 429, headers: { 'retry-after': '1' }, body: '' } }, 1), code: undefined, stderr: /Retrying in 1\.0s: TOOMANYREQUESTS/ },
    { kind: 'truncate', side: 'pull', rule: onClass('blob', { endAfter: (n) => n >> 1, stripHeaders: ['accept-ranges'] }), code: /BLOB_TRUNCATED/ },
    { kind: 'length-more', side: 'pull', rule: onClass('manifest', { contentLength: (n) => n + 100 }), code: /REGISTRY_UNREACHABLE/ },
    { kind: 'length-fewer', side: 'pull', rule: onClass('manifest', { contentLength: (n) => n - 50 }), code: /MANIFEST_INVALID|DIGEST_MISMATCH/ },
    {
      kind: 'stall', side: 'pull', rule: onClass('manifest', { stallHead: 40 }, 1), code: undefined,
      env: { KILN_RESPONSE_TIMEOUT: '1s' }, stderr: /Retrying in \d\.\ds: REGISTRY_TIMEOUT: pull of .*src\/oci:v1/,
    },
    { kind: 'trickle', side: 'pull', rule: (req) => (classify(req.method, req.path) !== undefined ? { trickle: { bytes: 4096, everyMs: 10 } } : undefined), code: undefined },
    { kind: 'bad-digest', side: 'push', rule: onClass('PUT', { setHeaders: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` } }), code: /DIGEST_MISMATCH/ },
  ];
  for (const c of cases) {
    test(`${c.kind}: kiln ${c.side}`, async (t) => {
      const u = newUser(work, `cli-${c.kind}`);
      Object.assign(u.env, c.env);
      const source = sources[0]!;
      if (c.side === 'push') cpSync(pushHome, u.home, { recursive: true });
      const r = await withProxy(c.rule, (host) => c.side === 'pull'
        ? kiln(['pull', `${host}/${source.repo}:v1`], u.env)
        : kiln(['push', `${source.repo}:v1`, `${host}/cli/${c.kind}:v1`], u.env));
      if (c.code === undefined) {
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^Digest: ${source.digest}$`, 'm'));
      } else {
        const line = assertOneError(r, new RegExp(`^ERROR: (${c.code.source}): `), literal(c.side === 'pull' ? source.repo : `cli/${c.kind}`));
        assert.ok(line.length < 400, line);
        t.diagnostic(line);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      }
      if (c.stderr !== undefined) assert.match(r.stderr, c.stderr);
      await mkdir(u.home, { recursive: true });
      assert.deepEqual((await fsck(u.home, { repair: false })).problems, []);
      assert.deepEqual(strayFiles(u.home), []);
      if (c.side === 'push') {
        const held = await registryHolds(reg.url, `cli/${c.kind}`, 'v1');
        assert.deepEqual(held.problems, []);
      }
    });
  }
});

/** Bugs the matrix found, pinned one by one through the client. */
describe('regressions found by the matrix', () => {
  const withClient = async (rule: FaultRule, use: (host: string, client: RegistryClient) => Promise<void>): Promise<void> => {
    const client = newClient();
    try {
      await withProxy(rule, (host) => use(host, client));
    } finally {
      await client.close();
    }
  };
  /** The first layer of the OCI source, as its manifest describes it (read straight from the registry). */
  const firstLayer = async (): Promise<{ mediaType: string; digest: string; size: number }> => {
    const m = await rawGet(reg.url, `/v2/${sources[0]!.repo}/manifests/v1`, 'application/vnd.oci.image.manifest.v1+json');
    return (JSON.parse(m.body.toString('utf8')) as { layers: { mediaType: string; digest: string; size: number }[] }).layers[0]!;
  };

  for (const ranges of [true, false]) {
    test(`a blob whose every byte came before its connection dropped is kept (${ranges ? 'no resume past its end: 416' : 'not BLOB_TRUNCATED "after N of N bytes"'})`, async () => {
      const layer = await firstLayer();
      let rangeAsked = false;
      const rule: FaultRule = (req) => {
        if (classify(req.method, req.path) !== 'blob') return undefined;
        if (req.headers.range !== undefined) rangeAsked = true;
        return { contentLength: (n) => n + 100, ...(ranges ? {} : { stripHeaders: ['accept-ranges'] }) };
      };
      await withClient(rule, async (host, client) => {
        const chunks: Buffer[] = [];
        for await (const c of await client.openBlob({ registry: host, repository: sources[0]!.repo }, layer as Parameters<RegistryClient['openBlob']>[1])) chunks.push(c as Buffer);
        assert.equal(sha256Hex(Buffer.concat(chunks)), layer.digest);
      });
      assert.equal(rangeAsked, false);
    });
  }

  test('a blob body that stalls past the idle timeout, with no Range to resume, says it stalled', async () => {
    const layer = await firstLayer();
    await withClient(onClass('blob', { stallAfter: (n) => n >> 1, stripHeaders: ['accept-ranges'] }), async (host, client) => {
      const read = async (): Promise<void> => {
        for await (const _ of await client.openBlob({ registry: host, repository: sources[0]!.repo }, layer as Parameters<RegistryClient['openBlob']>[1]));
      };
      await assert.rejects(read(), (e: unknown) => {
        assert.ok(e instanceof KilnError && e.code === 'BLOB_TRUNCATED', String(e));
        assert.match(e.message, /: the body stalled \(no data within the idle timeout\) after \d+ of \d+ bytes/);
        return true;
      });
    });
  });

  test('a connection lost under a request names the operation, as every other failure does', async () => {
    await withClient(onClass('manifest', { cutAfter: 10 }), async (host, client) => {
      await assert.rejects(client.getManifest(parseRef(`${host}/src/oci:v1`)), (e: unknown) => {
        assert.ok(e instanceof KilnError && e.code === 'REGISTRY_UNREACHABLE', String(e));
        assert.ok(e.message.startsWith(`pull of ${host}/src/oci:v1 (`), e.message);
        return true;
      });
    });
    const bytes = Buffer.alloc(40 << 10, 7);
    const desc = { mediaType: 'application/octet-stream', digest: sha256Hex(bytes), size: bytes.length } as Parameters<RegistryClient['pushBlob']>[1];
    await withClient(onClass('PATCH', { hangUp: true }), async (host, client) => {
      await assert.rejects(client.pushBlob({ registry: host, repository: 'regress/push' }, desc, () => Readable.from([bytes])), (e: unknown) => {
        assert.ok(e instanceof KilnError && e.code === 'REGISTRY_UNREACHABLE', String(e));
        assert.ok(e.message.startsWith(`push of ${host}/regress/push@${desc.digest} (`), e.message);
        return true;
      });
    });
  });

  test('a manifest cut short says its bytes are not what the registry announced', async () => {
    await withClient(onClass('manifest', { endAfter: (n) => n >> 1 }), async (host, client) => {
      await assert.rejects(client.getManifest(parseRef(`${host}/src/oci:v1`)), (e: unknown) => {
        assert.ok(e instanceof KilnError && e.code === 'MANIFEST_INVALID', String(e));
        assert.match(e.message, new RegExp(`^pull of ${host}/src/oci:v1: the manifest is not a JSON object; its \\d+ bytes do not hash to ${sources[0]!.digest}, the digest announced for it`));
        return true;
      });
    });
  });
});
