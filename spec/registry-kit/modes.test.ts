/**
 * The registry kit in each of its modes: skopeo (an independent client)
 * pushes a kiln-written OCI layout and pulls it back with the same manifest
 * digest; curl (an independent HTTP client) sees the auth challenge and the
 * TLS certificate each mode is meant to present.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { REGISTRY_MODES, type RegistryMode, type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { layoutTagDigest, pushRandomImage, writeRandomImage } from '../helpers/registry-images.ts';
import { dockerRef, skopeoCopy, skopeoInspect } from '../helpers/skopeo.ts';

const execFileP = promisify(execFile);

/** curl's view of `GET /v2/`: exit code, status, HTTP version and WWW-Authenticate. */
async function curlV2(reg: RunningRegistry, opts: { trustCa: boolean }): Promise<{ exit: number; status: string; version: string; challenge: string }> {
  const args = ['-s', '-D', '-', '-o', '/dev/null', '-w', 'STATUS %{http_code} VERSION %{http_version}\n', `${reg.url}/v2/`];
  if (opts.trustCa && reg.caCertPath !== undefined) args.unshift('--cacert', reg.caCertPath);
  try {
    const { stdout } = await execFileP('curl', args, { encoding: 'utf8' });
    const m = /STATUS (\d+) VERSION (\S+)/.exec(stdout);
    const challenge = /^www-authenticate: (.*)$/im.exec(stdout)?.[1]?.trim() ?? '';
    return { exit: 0, status: m?.[1] ?? '', version: m?.[2] ?? '', challenge };
  } catch (err) {
    return { exit: (err as { code: number }).code, status: '', version: '', challenge: '' };
  }
}

const expectedChallenge: Record<RegistryMode, (reg: RunningRegistry) => RegExp | undefined> = {
  'open': () => undefined,
  'tls': () => undefined,
  'basic': () => /^Basic realm="kiln-test-registry"$/,
  'tls-basic': () => /^Basic realm="kiln-test-registry"$/,
  'token': (reg) => new RegExp(`^Bearer realm="${reg.tokenServer!.realm}",service="kiln-test-registry"$`),
  'tls-token': (reg) => new RegExp(`^Bearer realm="${reg.tokenServer!.realm}",service="kiln-test-registry"$`),
};

for (const mode of REGISTRY_MODES) {
  describe(`registry kit, ${mode} mode`, () => {
    let reg: RunningRegistry;
    let work: string;
    before(async () => {
      reg = await startRegistry({ mode });
      work = await mkdtemp(join(tmpdir(), `kiln-kit-${mode}-`));
    });
    after(async () => {
      await reg?.stop();
      if (work !== undefined) await rm(work, { recursive: true, force: true });
    });

    it('answers GET /v2/ with the challenge of its mode', async () => {
      const seen = await curlV2(reg, { trustCa: true });
      assert.equal(seen.exit, 0);
      const challenge = expectedChallenge[mode](reg);
      if (challenge === undefined) {
        assert.equal(seen.status, '200');
        assert.equal(seen.challenge, '');
      } else {
        assert.equal(seen.status, '401');
        assert.match(seen.challenge, challenge);
      }
      assert.equal(reg.url.startsWith('https://'), mode.startsWith('tls'));
    });

    it('skopeo pushes an image and pulls it back with the same manifest digest', async () => {
      const pushed = await pushRandomImage(reg, 'alice/app:v1', { seed: 7 });
      assert.equal(pushed.pushedDigest, pushed.manifestDigest, 'the registry stored the manifest kiln wrote, byte for byte');
      const raw = await skopeoInspect(reg, 'alice/app:v1', { raw: true });
      assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, pushed.manifestDigest);

      const out = join(work, 'pulled');
      await skopeoCopy(dockerRef(reg, 'alice/app:v1'), `oci:${out}:pulled`, { registry: reg });
      assert.equal(await layoutTagDigest(out, 'pulled'), pushed.manifestDigest);
      const manifest = JSON.parse(await readFile(join(out, 'blobs', 'sha256', pushed.manifestDigest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
      assert.deepEqual(manifest.layers.map((l) => l.digest), pushed.image.layers.map((l) => l.descriptor.digest));
    });

    if (mode.startsWith('tls')) {
      it('serves a certificate that verifies for 127.0.0.1 with its CA only, over HTTP/2', async () => {
        const trusted = await curlV2(reg, { trustCa: true });
        assert.equal(trusted.version, '2');
        const untrusted = await curlV2(reg, { trustCa: false });
        assert.equal(untrusted.exit, 60, 'curl: peer certificate cannot be authenticated with known CA certificates');
      });
    }

    if (mode !== 'open' && mode !== 'tls') {
      it('refuses a push with a wrong password and an anonymous push', async () => {
        const layout = await writeRandomImage(join(work, `refused-${Date.now()}`), { seed: 8 });
        const wrong = await skopeoCopy(layout.sourceRef, dockerRef(reg, 'alice/app:refused'), { registry: reg, destCreds: 'alice:not-her-password', allowFailure: true });
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, /unauthorized|incorrect username or password|authentication required/i);
        const anonymous = await skopeoCopy(layout.sourceRef, dockerRef(reg, 'alice/app:refused'), { registry: reg, destCreds: null, allowFailure: true });
        assert.notEqual(anonymous.code, 0);
        assert.match(anonymous.stderr, /unauthorized|denied|authentication required/i);
        const { RepoTags } = JSON.parse(await skopeoInspect(reg, 'alice/app:v1')) as { RepoTags: string[] };
        assert.deepEqual(RepoTags, ['v1']);
      });
    }
  });
}
