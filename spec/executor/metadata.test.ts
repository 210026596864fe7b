/**
 * Metadata instructions through the real build(): config values and history
 * `created_by` strings. Expectations from BuildKit's dockerfile2llb
 * (convert.go dispatchEnv/Label/Maintainer/Cmd/Entrypoint/Healthcheck/User/
 * Volume/StopSignal/Shell/Onbuild, convert_expose.go parsePort, image.go
 * emptyImage), Go's fmt verbs (%q and %v of []string, %+v of
 * HealthcheckConfig with time.Duration's String()), BuildKit's
 * TestDispatchHealthcheckHistory and testExportedHistory, and moby/sys/signal
 * ParseSignal.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildError, buildIt, type Built, EPOCH } from './build-kit.ts';

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DOCKERFILE = `FROM scratch AS base
ENV a=1
ENV a=2 b=$a c=\${a}x
ENV d="quoted value" e=unquoted\\ space
LABEL l1=$a "l 2"="v 2"
LABEL l1=override
ARG x=argval
ENV fromarg=$x
MAINTAINER someone <s@example.com>
EXPOSE 2375 5000 1234/udp
EXPOSE 8000-8002/tcp 53/UDP 0.0.0.0:9000:9001 7000-7000
VOLUME ["/data", "/logs"]
VOLUME /cache
USER app:staff
STOPSIGNAL SIGQUIT
SHELL ["/bin/bash", "-c"]
CMD echo $HOME
ENTRYPOINT ["/ep", "a b"]
HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1h --start-interval=2s --retries=3 CMD curl -f http://x/ || exit 1
ONBUILD LABEL onbuild=ran
FROM base AS child
ENTRYPOINT exec /other "q"
HEALTHCHECK NONE
`;

describe('metadata of one stage', () => {
  let b: Built;
  before(async () => {
    b = await buildIt({}, DOCKERFILE, { target: 'base' });
  });

  test('ENV: every value sees the variables from before the instruction; a redefined key keeps its place', () => {
    assert.deepEqual(b.config.Env, [PATH, 'a=2', 'b=1', 'c=1x', 'd=quoted value', 'e=unquoted space', 'fromarg=argval']);
  });
  test('LABEL', () => assert.deepEqual(b.config.Labels, { l1: 'override', 'l 2': 'v 2' }));
  test('MAINTAINER sets the author', () => assert.equal(b.image.config.author, 'someone <s@example.com>'));
  test('EXPOSE: ranges expanded, protocols lower-cased, tcp by default, host parts dropped', () => {
    assert.deepEqual(Object.keys(b.config.ExposedPorts ?? {}).sort(), [
      '1234/udp', '2375/tcp', '5000/tcp', '53/udp', '7000/tcp', '8000/tcp', '8001/tcp', '8002/tcp', '9001/tcp',
    ]);
  });
  test('VOLUME', () => assert.deepEqual(b.config.Volumes, { '/data': {}, '/logs': {}, '/cache': {} }));
  test('USER is kept as written', () => assert.equal(b.config.User, 'app:staff'));
  test('STOPSIGNAL is kept as written', () => assert.equal(b.config.StopSignal, 'SIGQUIT'));
  test('SHELL wraps later shell forms; CMD is not expanded', () => {
    assert.deepEqual(b.config.Shell, ['/bin/bash', '-c']);
    assert.deepEqual(b.config.Cmd, ['/bin/bash', '-c', 'echo $HOME']);
    assert.equal(b.config.ArgsEscaped, true);
  });
  test('ENTRYPOINT after a CMD of the same stage keeps the CMD', () => assert.deepEqual(b.config.Entrypoint, ['/ep', 'a b']));
  test('HEALTHCHECK durations in nanoseconds', () => {
    assert.deepEqual(b.config.Healthcheck, {
      Test: ['CMD-SHELL', 'curl -f http://x/ || exit 1'],
      Interval: 90e9,
      Timeout: 500e6,
      StartPeriod: 3600e9,
      StartInterval: 2e9,
      Retries: 3,
    });
  });
  test('ONBUILD stores the trigger text', () => assert.deepEqual(b.config.OnBuild, ['LABEL onbuild=ran']));
  test('WorkingDir of a scratch stage is / (emptyImage)', () => assert.equal(b.config.WorkingDir, '/'));
  test('ARG values never reach the config', () => assert.ok(!(b.config.Env ?? []).some((e) => e.startsWith('x='))));

  test('history, entry by entry (ONBUILD records none)', () => {
    assert.deepEqual(
      b.history.map((h) => h.created_by),
      [
        'ENV a=1',
        'ENV a=2 b=1 c=1x',
        'ENV d=quoted value e=unquoted space',
        'LABEL l1=2 l 2=v 2',
        'LABEL l1=override',
        'ARG x=argval',
        'ENV fromarg=argval',
        'MAINTAINER someone <s@example.com>',
        'EXPOSE [1234/udp 2375/tcp 5000/tcp]',
        'EXPOSE [9001/tcp 53/udp 7000/tcp 8000/tcp 8001/tcp 8002/tcp]',
        'VOLUME [/data /logs]',
        'VOLUME [/cache]',
        'USER app:staff',
        'STOPSIGNAL SIGQUIT',
        'SHELL [/bin/bash -c]',
        'CMD ["/bin/bash" "-c" "echo $HOME"]',
        'ENTRYPOINT ["/ep" "a b"]',
        'HEALTHCHECK {Test:[CMD-SHELL curl -f http://x/ || exit 1] Interval:1m30s Timeout:500ms StartPeriod:1h0m0s StartInterval:2s Retries:3}',
      ],
    );
  });

  test('metadata entries are empty_layer, with BuildKit\'s comment and the epoch as created', () => {
    for (const h of b.history) {
      assert.equal(h.empty_layer, true);
      assert.equal(h.comment, 'buildkit.dockerfile.v0');
      assert.equal(h.created, new Date(EPOCH * 1000).toISOString().replace('.000Z', 'Z'));
    }
    assert.equal(b.layers.length, 0);
  });
});

describe('metadata inherited from an earlier stage', () => {
  let b: Built;
  before(async () => {
    b = await buildIt({}, DOCKERFILE);
  });
  test('ENTRYPOINT resets a CMD that was not set in this stage', () => {
    assert.deepEqual(b.config.Entrypoint, ['/bin/bash', '-c', 'exec /other "q"']);
    assert.equal(b.config.Cmd, undefined);
  });
  test('HEALTHCHECK NONE', () => assert.deepEqual(b.config.Healthcheck, { Test: ['NONE'] }));
  test('the rest of the config is inherited', () => {
    assert.equal(b.config.User, 'app:staff');
  });
  test('the base stage\'s ONBUILD triggers run first and are not passed on (BuildKit resolveStages/init)', () => {
    assert.equal(b.config.Labels?.onbuild, 'ran');
    assert.equal(b.config.OnBuild, undefined);
  });
  test('history continues the base stage\'s', () => {
    const tail = b.history.slice(-3).map((h) => h.created_by);
    assert.deepEqual(tail, [
      'LABEL onbuild=ran',
      'ENTRYPOINT ["/bin/bash" "-c" "exec /other \\"q\\""]',
      'HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}',
    ]);
    assert.equal(b.history.length, 21);
  });
});

describe('metadata details', () => {
  test('HEALTHCHECK exec form and Go duration formatting (BuildKit TestDispatchHealthcheckHistory)', async () => {
    const b = await buildIt({}, 'FROM scratch\nHEALTHCHECK --interval=1s --timeout=10s --start-period=3s --start-interval=100ms --retries=5 CMD ["bin", "-c", "exit 0"]\n');
    assert.equal(b.history[0]?.created_by, 'HEALTHCHECK {Test:[CMD bin -c exit 0] Interval:1s Timeout:10s StartPeriod:3s StartInterval:100ms Retries:5}');
    assert.deepEqual(b.config.Healthcheck?.Test, ['CMD', 'bin', '-c', 'exit 0']);
  });
  test('HEALTHCHECK --retries=0 is "inherit": omitted like a zero duration', async () => {
    const b = await buildIt({}, 'FROM scratch\nHEALTHCHECK --retries=0 --interval=2m0.5s CMD true\n');
    assert.deepEqual(b.config.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 120.5e9 });
    assert.equal(b.history[0]?.created_by, 'HEALTHCHECK {Test:[CMD-SHELL true] Interval:2m0.5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}');
  });
  test('CMD exec form with quotes and non-ASCII: Go %q', async () => {
    const b = await buildIt({}, 'FROM scratch\nCMD ["echo", "say \\"hi\\"", "tab\\there", "ünï", "back\\\\slash"]\n');
    assert.equal(b.history[0]?.created_by, 'CMD ["echo" "say \\"hi\\"" "tab\\there" "ünï" "back\\\\slash"]');
    assert.deepEqual(b.config.Cmd, ['echo', 'say "hi"', 'tab\there', 'ünï', 'back\\slash']);
  });
  test('ENV replaces a key defined by a base stage in place', async () => {
    const b = await buildIt({}, 'FROM scratch AS a\nENV x=1 y=2\nFROM a\nENV x=3 PATH=/bin\n');
    assert.deepEqual(b.config.Env, ['PATH=/bin', 'x=3', 'y=2']);
  });
  test('a stage name and `AS` case do not matter for FROM of an earlier stage', async () => {
    const b = await buildIt({}, 'FROM scratch as Base\nLABEL a=b\nFROM base\n');
    assert.deepEqual(b.config.Labels, { a: 'b' });
  });

  const signals: [string, string][] = [
    ['SIGTERM', 'none'], ['TERM', 'none'], ['sigkill', 'none'], ['9', 'none'], ['SIGRTMIN+3', 'none'], ['RTMAX-1', 'none'],
    ['0', 'STOPSIGNAL_INVALID'], ['SIGFOO', 'STOPSIGNAL_INVALID'], ['SIGRTMIN+16', 'STOPSIGNAL_INVALID'], ['', 'STOPSIGNAL_INVALID'],
  ];
  for (const [sig, code] of signals) {
    test(`STOPSIGNAL ${JSON.stringify(sig)}: ${code}`, async () => {
      const got = await buildError({}, `FROM scratch\nENV s=${sig}\nSTOPSIGNAL $s\n`);
      assert.equal(got.code, code, got.message);
    });
  }

  const ports: [string, string[] | string][] = [
    ['80', ['80/tcp']],
    ['80/SCTP', ['80/sctp']],
    ['80/', ['80/tcp']],
    ['[::1]:81:82', ['82/tcp']],
    ['1-3/udp', ['1/udp', '2/udp', '3/udp']],
    ['5-5', ['5/tcp']],
    ['1234:1234/tcp', ['1234/tcp']],
    ['0.0.0.0:1234-1235:3333-3334/tcp', ['3333/tcp', '3334/tcp']],
    ['8080-8081:80', ['80/tcp']],
    ['2001:4860:0:2001::68::333', ['333/tcp']],
    ['65535', ['65535/tcp']],
    ['65536', 'EXPOSE_INVALID'],
    ['80/http', 'EXPOSE_INVALID'],
    ['/tcp', 'EXPOSE_INVALID'],
    ['x', 'EXPOSE_INVALID'],
    ['3-1', 'EXPOSE_INVALID'],
    ['localhost:1234:1234/tcp', 'EXPOSE_INVALID'],
    ['1-2:3-5', 'EXPOSE_INVALID'],
  ];
  for (const [spec, want] of ports) {
    test(`EXPOSE ${spec}`, async () => {
      if (typeof want === 'string') {
        assert.equal((await buildError({}, `FROM scratch\nEXPOSE ${spec}\n`)).code, want);
        return;
      }
      const b = await buildIt({}, `FROM scratch\nEXPOSE ${spec}\n`);
      assert.deepEqual(Object.keys(b.config.ExposedPorts ?? {}), want);
    });
  }

  test('VOLUME of an empty string is an error', async () => {
    assert.equal((await buildError({}, 'FROM scratch\nENV e=""\nVOLUME ["$e"]\n')).code, 'VOLUME_EMPTY');
  });
});
