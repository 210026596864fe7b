# kiln — every target installs what it needs; see README.md.
SHELL := /bin/bash
NODE ?= node
TSX := $(NODE) --import tsx
APT_PACKAGES := umoci skopeo docker-registry apache2-utils bubblewrap attr uidmap buildah zstd qemu-user-static
SPEC_FILES = $(shell find spec -name '*.test.ts' | sort)

.PHONY: deps check test demo bench fixtures fuzz clean

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# npm packages, and the Debian packages the tests drive as independent checkers.
deps: node_modules/.package-lock.json
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Type check and the architecture test (import edges against DESIGN.md's table).
check: node_modules/.package-lock.json
	node_modules/.bin/tsc --noEmit -p .
	$(TSX) --test spec/architecture.test.ts

# Regenerates the committed generated fixtures (same bytes every run; needs root).
fixtures: deps
	sh testdata/archive/foreign-tars/generate.sh
	python3 testdata/malicious/generate.py
	$(TSX) testdata/base-images/make-base-images.ts

test: deps check
	$(TSX) --test --test-concurrency=2 $(SPEC_FILES)

# Mutated corpus Dockerfiles through parser, linter and planner; mutated tar layers and
# manifests/configs through what a pull and a build do with them (not part of make test).
# Each runs in a fresh run folder (TMPDIR, HOME, KILN_HOME inside it) and fails on any
# write outside it: spec/fuzz/run-folder.ts (strace and find; as root, / read-only).
FUZZ_COUNT ?= 100000
FUZZ_LAYERS ?= 10000
FUZZ_MANIFESTS ?= 10000
FUZZ_SEED ?= 1
# Every harness runs even when one fails; the target fails at the end if any did.
fuzz: node_modules/.package-lock.json
	@status=0; \
	$(TSX) spec/fuzz/run-folder.ts fuzz-dockerfile -- $(TSX) spec/fuzz/fuzz-dockerfile.ts --count $(FUZZ_COUNT) --seed $(FUZZ_SEED) --stage parse || status=1; \
	$(TSX) spec/fuzz/run-folder.ts fuzz-dockerfile -- $(TSX) spec/fuzz/fuzz-dockerfile.ts --count $(FUZZ_COUNT) --seed $(FUZZ_SEED) --stage plan || status=1; \
	$(TSX) spec/fuzz/fuzz-layer.ts --count $(FUZZ_LAYERS) --seed $(FUZZ_SEED) || status=1; \
	$(TSX) spec/fuzz/fuzz-manifest.ts --count $(FUZZ_MANIFESTS) --seed $(FUZZ_SEED) || status=1; \
	exit $$status

demo: deps
	bash testdata/demo/run.sh

bench: deps
	$(TSX) bench/run.ts

clean:
	rm -rf testdata/fixtures
