/**
 * The connection layer against real servers: retries with backoff on 5xx,
 * 429 (Retry-After), resets and timeouts, none on 4xx; a registry that is
 * down; TLS with the CA from an option or from the environment, refused
 * without it, unverified for insecure registries; plain http on loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { RegistryError, type RegistryEvent } from '../../lib/registry/index.ts';
import { freePort, type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { pushRandomImage, type PushedImage } from '../helpers/registry-images.ts';
import { clientFor, ref } from './client-kit.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';

const isCode = (code: string) => (e: unknown): boolean => {
  assert.ok(e instanceof RegistryError, inspect(e, { depth: 3 }));
  assert.equal(e.code, code, e.message);
  return true;
};

describe('retries', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let image: PushedImage;
  before(async () => {
    reg = await startRegistry({ mode: 'open' });
    proxy = await startFaultProxy(reg.url);
    image = await pushRandomImage(reg, 'r/app:v1', { seed: 71 });
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  /** Pulls the manifest with the first `times` manifest requests answered by `fault`. */
  async function pullWith(fault: Parameters<FaultProxy['setRule']>[0] extends ((...a: never[]) => infer F) | undefined ? F : never, times: number, opts: Parameters<typeof clientFor>[1] = {}) {
    let n = 0;
    proxy.setRule((r) => (r.path.includes('/manifests/') && n++ < times ? fault : undefined));
    const events: RegistryEvent[] = [];
    const c = clientFor({ ...reg, host: proxy.host } as RunningRegistry, { onEvent: (e) => events.push(e), ...opts });
    try {
      const result = await c.getManifest(ref(proxy.host, 'r/app:v1')).then((m) => m, (e: unknown) => e);
      return { result, events, requests: n };
    } finally {
      proxy.setRule(undefined);
      await c.close();
    }
  }

  test('503 twice, then the answer: three requests, two retry events', async () => {
    const { result, events, requests } = await pullWith({ respond: { status: 503 } }, 2);
    assert.equal((result as { digest: string }).digest, image.pushedDigest);
    assert.equal(requests, 3);
    assert.deepEqual(events.map((e) => [e.kind, (e as { code: string }).code]), [['retry', 'REGISTRY_UNAVAILABLE'], ['retry', 'REGISTRY_UNAVAILABLE']]);
  });

  test('429 with Retry-After: the wait is the registry\'s, not the backoff', async () => {
    const { result, events } = await pullWith({ respond: { status: 429, headers: { 'retry-after': '1' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' } }, 1, { retry: { maxRetryAfterMs: 10_000 } });
    assert.equal((result as { digest: string }).digest, image.pushedDigest);
    assert.equal(events.length, 1);
    assert.equal((events[0] as { delayMs: number }).delayMs, 1000);
    assert.equal((events[0] as { code: string }).code, 'TOOMANYREQUESTS');
  });

  test('connection resets before the answer are retried', async () => {
    const { result, requests } = await pullWith({ hangUp: true }, 2);
    assert.equal((result as { digest: string }).digest, image.pushedDigest);
    assert.equal(requests, 3);
  });

  test('a 4xx is not retried', async () => {
    const body = '{"errors":[{"code":"NAME_INVALID","message":"invalid repository name"}]}';
    const { result, events, requests } = await pullWith({ respond: { status: 400, body } }, 5);
    assert.ok(isCode('NAME_INVALID')(result));
    assert.equal(requests, 1);
    assert.equal(events.length, 0);
  });

  test('attempts are bounded; the last error is thrown', async () => {
    const { result, requests } = await pullWith({ respond: { status: 502 } }, 100, { retry: { attempts: 4 } });
    assert.ok(isCode('REGISTRY_UNAVAILABLE')(result));
    assert.equal((result as RegistryError).status, 502);
    assert.equal(requests, 4);
  });

  test('a registry slower than the headers timeout is REGISTRY_TIMEOUT after the retries', async () => {
    // undici checks its timeouts on a coarse tick (about a second): the delay must exceed that.
    const { result, requests } = await pullWith({ delayMs: 4000 }, 100, { timeouts: { headersMs: 150 }, retry: { attempts: 2 } });
    assert.ok(isCode('REGISTRY_TIMEOUT')(result));
    assert.equal(requests, 2);
  });

  test('an aborted signal stops the call', async () => {
    const c = clientFor({ ...reg, host: proxy.host } as RunningRegistry);
    try {
      const ac = new AbortController();
      proxy.setRule((r) => (r.path.includes('/manifests/') ? { delayMs: 2000 } : undefined));
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(c.getManifest(ref(proxy.host, 'r/app:v1'), { signal: ac.signal }), (e: unknown) => (e as Error).name === 'AbortError');
    } finally {
      proxy.setRule(undefined);
      await c.close();
    }
  });
});

test('a registry that is down is REGISTRY_UNREACHABLE naming registry and reference', async () => {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const c = clientFor({ host, users: {} } as unknown as RunningRegistry);
  try {
    await assert.rejects(c.getManifest(ref(host, 'down/app:v1')), (e: unknown) => isCode('REGISTRY_UNREACHABLE')(e) && (e as Error).message.startsWith(`pull of ${host}/down/app:v1:`));
  } finally {
    await c.close();
  }
});

describe('TLS', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ mode: 'tls' });
    await pushRandomImage(reg, 't/app:v1', { seed: 72 });
  });
  after(async () => {
    await reg?.stop();
  });

  const pull = async (opts: Parameters<typeof clientFor>[1]) => {
    const c = clientFor({ ...reg, caCertPath: undefined } as RunningRegistry, opts);
    try {
      return await c.getManifest(ref(reg.host, 't/app:v1'));
    } finally {
      await c.close();
    }
  };

  test('an untrusted certificate is REGISTRY_TLS, with no fallback to plain http', async () => {
    await assert.rejects(pull({}), (e: unknown) => isCode('REGISTRY_TLS')(e) && /not trusted/.test((e as Error).message));
  });

  test('the CA may come from caCerts, SSL_CERT_FILE or NODE_EXTRA_CA_CERTS', async () => {
    assert.ok((await pull({ caCerts: [reg.caCertPath!] })).bytes.length > 0);
    assert.ok((await pull({ env: { SSL_CERT_FILE: reg.caCertPath! } })).bytes.length > 0);
    assert.ok((await pull({ env: { NODE_EXTRA_CA_CERTS: reg.caCertPath! } })).bytes.length > 0);
    assert.throws(() => clientFor(reg, { caCerts: ['/nonexistent/ca.pem'] }), isCode('REGISTRY_TLS'));
  });

  test('an insecure registry is spoken to without verifying its certificate', async () => {
    assert.ok((await pull({ insecureRegistries: [reg.host] })).bytes.length > 0);
  });
});

test('a plain-http registry named localhost is reached over http after https fails', async () => {
  const reg = await startRegistry({ mode: 'open' });
  try {
    const image = await pushRandomImage(reg, 'l/app:v1', { seed: 73 });
    const host = reg.host.replace('127.0.0.1', 'localhost');
    const c = clientFor({ ...reg, host } as RunningRegistry);
    try {
      assert.equal((await c.getManifest(ref(host, 'l/app:v1'))).digest, image.pushedDigest);
    } finally {
      await c.close();
    }
  } finally {
    await reg.stop();
  }
});
