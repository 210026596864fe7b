/**
 * Platform specifiers. Cases from containerd/platforms platforms_test.go
 * (TestParseSelector, TestFormatAllEncoding, TestParseSelectorInvalid),
 * with linux/amd64 standing in for the host the lone OS / lone arch forms
 * default to.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPlatform, formatPlatformAll, parsePlatform } from '../../lib/plan/index.ts';
import { AMD64 } from './plan-kit.ts';

describe('parsePlatform', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['linux/arm64', { os: 'linux', architecture: 'arm64' }, 'linux/arm64'],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'linux/arm64/v8'],
    ['linux/arm', { os: 'linux', architecture: 'arm' }, 'linux/arm'],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }, 'linux/arm/v6'],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7'],
    ['arm', { os: 'linux', architecture: 'arm' }, 'linux/arm'],
    ['armel', { os: 'linux', architecture: 'arm', variant: 'v6' }, 'linux/arm/v6'],
    ['armhf', { os: 'linux', architecture: 'arm' }, 'linux/arm'],
    ['Aarch64', { os: 'linux', architecture: 'arm64' }, 'linux/arm64'],
    ['x86_64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['Linux/x86_64', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['i386', { os: 'linux', architecture: '386' }, 'linux/386'],
    ['linux', { os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    ['s390x', { os: 'linux', architecture: 's390x' }, 'linux/s390x'],
    ['macOS', { os: 'darwin', architecture: 'amd64' }, 'darwin/amd64'],
    ['windows(10.0.17763)', { os: 'windows', 'os.version': '10.0.17763', architecture: 'amd64' }, 'windows(10.0.17763)/amd64'],
    ['windows(10.0.17763+win32k)', { os: 'windows', 'os.version': '10.0.17763', 'os.features': ['win32k'], architecture: 'amd64' }, 'windows(10.0.17763+win32k)/amd64'],
    ['linux(+unsorted+erofs)', { os: 'linux', 'os.features': ['unsorted', 'erofs'], architecture: 'amd64' }, 'linux(+erofs+unsorted)/amd64'],
    ['windows(10.0.17763%2Bbuild.42)', { os: 'windows', 'os.version': '10.0.17763+build.42', architecture: 'amd64' }, 'windows(10.0.17763%2Bbuild.42)/amd64'],
    ['windows(50%25done)', { os: 'windows', 'os.version': '50%done', architecture: 'amd64' }, 'windows(50%25done)/amd64'],
  ];
  for (const [input, want, formatted] of cases) {
    test(input, () => {
      const p = parsePlatform(input, AMD64);
      assert.deepEqual(p, want);
      assert.equal(formatPlatformAll(p), formatted);
      assert.deepEqual(formatPlatformAll(parsePlatform(formatted, AMD64)), formatted, 'stable through a round trip');
    });
  }

  for (const bad of ['', '/linux/arm', 'linux/arm/', 'linux /arm', 'linux/&arm', 'linux/arm/foo/bar', 'nosuch', 'linux/*']) {
    test(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parsePlatform(bad, AMD64), (e: { code?: string }) => e.code === 'PLATFORM_INVALID');
    });
  }

  test('Format leaves out the OS version; FormatAll percent-encodes it', () => {
    const p = { os: 'windows', architecture: 'amd64', 'os.version': '1.0(beta)' };
    assert.equal(formatPlatform(p), 'windows/amd64');
    assert.equal(formatPlatformAll(p), 'windows(1.0%28beta%29)/amd64');
    assert.equal(formatPlatformAll({ os: 'linux', architecture: 'amd64', 'os.features': ['feat+v2'] }), 'linux(+feat%2Bv2)/amd64');
  });
});
