# ffitel — build, test, bench, demo.
#   make demo   run the example workers against a real Collector and summarise
#   make torture   Collector kill/restart, long outage, black hole: figures
#   make test   everything CI runs: vet, race tests, C ABI under valgrind,
#               Python and Ruby bindings, end-to-end against real services,
#               and the release artifacts installed as a user would
#   make dist   release artifacts in dist/ (docs/PACKAGING.md)
#   make usercheck   the wheel and gem from dist/ installed outside the
#               checkout: burst, kill, Collector down, fork; fails on a loss
SHELL := /bin/bash
GO ?= go
export GOFLAGS := -buildvcs=false
CACHE := $(CURDIR)/.cache
BUILD := $(CURDIR)/build
OTELCOL := $(CACHE)/otelcol/otelcol-ffitel
BUILDER_VERSION := v0.120.0

.PHONY: all build deps collector collector-lb test test-go test-c test-python test-ruby test-dist dist dist-aarch64 dist-toolchain bench bench-spool demo torture usercheck clean

all: build

deps:
	@scripts/install-deps.sh

collector: $(OTELCOL)

# Built once with the official builder into the ignored cache.
$(OTELCOL): e2e/collector/builder.yaml
	GOBIN=$(CACHE)/bin $(GO) install go.opentelemetry.io/collector/cmd/builder@$(BUILDER_VERSION)
	cd $(CURDIR) && $(CACHE)/bin/builder --config e2e/collector/builder.yaml
	@test -x $(OTELCOL)

# The two-tier tests' Collector (agent and gateways: contrib load-balancing
# exporter, batch and memory_limiter processors), built once into its own
# cached folder beside the shared one; see docs/OPERATIONS.md for versions.
OTELCOL_LB := $(CACHE)/otelcol-lb/otelcol-ffitel-lb

collector-lb: $(OTELCOL_LB)

$(OTELCOL_LB): e2e/collector/builder-lb.yaml
	test -x $(CACHE)/bin/builder || GOBIN=$(CACHE)/bin $(GO) install go.opentelemetry.io/collector/cmd/builder@$(BUILDER_VERSION)
	cd $(CURDIR) && $(CACHE)/bin/builder --config e2e/collector/builder-lb.yaml
	@test -x $(OTELCOL_LB)

LIB := $(BUILD)/libffitel.so
GO_SOURCES := $(shell find bootstrap metrics events internal cshim -name '*.go' -not -name '*_test.go' 2>/dev/null) $(wildcard cshim/*.c cshim/*.h) cshim/include/ffitel.h cshim/exports.map go.mod go.sum

build: $(LIB) $(BUILD)/ffitel.h

# The shared library, stripped, exporting only the ffitel_* C ABI.
$(LIB): $(GO_SOURCES)
	@mkdir -p $(BUILD)
	$(GO) build -buildmode=c-shared -trimpath \
	  -ldflags="-s -w -extldflags=-Wl,--version-script=$(CURDIR)/cshim/exports.map" -o $@ ./cshim
	@rm -f $(BUILD)/libffitel.h

$(BUILD)/ffitel.h: cshim/include/ffitel.h
	@mkdir -p $(BUILD)
	cp $< $@

$(BUILD)/test_environ: tests/c/test_environ.c $(BUILD)/ffitel.h
	$(CC) -O1 -g -Wall -I$(BUILD) -o $@ $< -ldl

$(BUILD)/test_abi: tests/c/test_abi.c $(LIB) $(BUILD)/ffitel.h
	$(CC) -O1 -g -Wall -Wextra -I$(BUILD) -o $@ $< -L$(BUILD) -lffitel -Wl,-rpath,'$$ORIGIN' -lpthread -lm

test: deps collector collector-lb build test-go test-c test-python test-ruby test-dist

test-python: build collector
	python3 -m pytest -q python/tests

test-ruby: build collector
	ruby/run-tests.sh

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	# The slab reuse checks skip under -race (sync.Pool drops packers there).
	$(GO) test -count=1 -run 'Slab' ./bootstrap/

# The C ABI test, plain and under valgrind memcheck (errors fail the run).
# The library's own console output goes to build/test_abi.log.
test-c: $(BUILD)/test_abi $(BUILD)/test_environ
	env -u FFITEL_WORKER_ID $(BUILD)/test_environ $(LIB)
	$(BUILD)/test_abi 2>$(BUILD)/test_abi.log
	valgrind -q --error-exitcode=99 --suppressions=tests/c/go-runtime.supp \
	  $(BUILD)/test_abi 2>$(BUILD)/test_abi.valgrind.log || { grep -v '^time=' $(BUILD)/test_abi.valgrind.log | head -50; exit 1; }
	@echo "valgrind memcheck: no errors"

$(BUILD)/bench_abi: tests/c/bench_abi.c $(BUILD)/ffitel.h
	$(CC) -O2 -Wall -I$(BUILD) -o $@ $< -ldl

$(BUILD)/spool_worker: tests/c/spool_worker.c $(LIB) $(BUILD)/ffitel.h
	$(CC) -O2 -Wall -I$(BUILD) -o $@ $< -L$(BUILD) -lffitel -Wl,-rpath,$(BUILD)

# The spool against the in-memory path (docs/PERFORMANCE.md, "The spool"):
# host-thread cost on and off, shipping throughput, recovery of a spool.
# SPOOL_BENCH_DIR: where the spool directories go (default /tmp).
bench-spool: collector build $(BUILD)/bench_abi $(BUILD)/spool_worker
	$(GO) run ./e2e/cmd/benchspool -n 100000 -rounds 3 -dir $(or $(SPOOL_BENCH_DIR),/tmp) \
	  -lib $(LIB) -abi $(BUILD)/bench_abi -worker $(BUILD)/spool_worker

# Benchmarks print side-by-side numbers; docs/PERFORMANCE.md records a run.
bench: deps collector build $(BUILD)/bench_abi $(BUILD)/spool_worker
	$(GO) test -run '^$$' -bench . -benchmem ./bootstrap/ ./cshim/ ./metrics/
	$(GO) test -run '^$$' -bench Sustained -benchtime 100000x ./e2e/
	$(GO) run ./e2e/cmd/exportcpu -n 100000 -rate 10000
	$(GO) test -run '^$$' -bench 'Publish$$' -benchtime 5000x ./e2e/
	$(GO) test -run '^$$' -bench PublishFromPython -benchtime 2000x ./e2e/
	$(GO) run ./e2e/cmd/withcollector -- $(BUILD)/bench_abi $(LIB) 100000
	FFITEL_LOG_OUTPUT=none $(GO) run ./e2e/cmd/withcollector -- $(BUILD)/bench_abi $(LIB) 100000
	$(MAKE) bench-spool
	python/bench/run.sh
	FFITEL_LIBRARY=$(LIB) ruby -Iruby/lib ruby/bench/bench_logging.rb
	FFITEL_LOG_OUTPUT=none $(GO) run ./e2e/cmd/withcollector -- env FFITEL_LIBRARY=$(LIB) python3 python/bench/bench_tasks.py 20000
	FFITEL_LOG_OUTPUT=none $(GO) run ./e2e/cmd/withcollector -- env FFITEL_LIBRARY=$(LIB) ruby -Iruby/lib ruby/bench/bench_tasks.rb 20000
	FFITEL_LOG_OUTPUT=none $(GO) run ./e2e/cmd/withcollector -- env FFITEL_LIBRARY=$(LIB) ruby -Iruby/lib ruby/bench/bench_sidekiq.rb 20000
	FFITEL_LOG_OUTPUT=none $(GO) run ./e2e/cmd/withcollector -- env FFITEL_LIBRARY=$(LIB) python3 python/bench/bench_celery.py 5000
	FFITEL_LIBRARY=$(LIB) python3 python/bench/bench_otel_api.py --spans 20000 --rounds 3
	FFITEL_LIBRARY=$(LIB) python3 python/bench/bench_worker_export.py --records 100000 --rounds 3

demo: deps collector build
	$(GO) run ./e2e/cmd/demo

# Release artifacts (docs/PACKAGING.md). The library is built once per
# architecture with zig cc against glibc 2.17 and shared by the wheel, the
# platform gem and the C tarball. dist-aarch64 adds the aarch64 artifacts.
DISTVENV := $(CACHE)/distvenv
DISTLIB_X86_64 := $(BUILD)/dist/x86_64/libffitel.so
DISTLIB_AARCH64 := $(BUILD)/dist/aarch64/libffitel.so

dist-toolchain:
	@scripts/dist-toolchain.sh $(DISTVENV)

$(BUILD)/dist/%/libffitel.so: $(GO_SOURCES)
	@scripts/dist-toolchain.sh $(DISTVENV)
	FFITEL_DISTVENV=$(DISTVENV) scripts/build-lib.sh $* $@

dist: $(DISTLIB_X86_64)
	FFITEL_DISTVENV=$(DISTVENV) scripts/dist.sh x86_64=$(DISTLIB_X86_64)

dist-aarch64: $(DISTLIB_X86_64) $(DISTLIB_AARCH64)
	FFITEL_DISTVENV=$(DISTVENV) scripts/dist.sh x86_64=$(DISTLIB_X86_64) aarch64=$(DISTLIB_AARCH64)

# Installs every artifact in dist/ as a user would, outside the checkout,
# and runs a two-phase worker from each against the real Collector.
test-dist: dist collector
	$(GO) test -tags dist -count=1 -timeout 20m -v -run TestDist ./e2e/

# The failure experiments of issue #12 (Collector killed and restarted
# mid-stream, a long outage, a black-hole endpoint), with their figures.
# Not part of `make test`: it takes minutes and asserts nothing.
#   make torture TORTURE_ARGS='-outage 30s restart'
TORTURE_ARGS ?=
torture: collector
	$(GO) run ./e2e/cmd/torture $(TORTURE_ARGS)

# The wheel and the platform gem from dist/, installed as a user would
# (fresh venv, own GEM_HOME, a directory outside the checkout) and run
# against a real Collector: a burst, a SIGKILL with the spool, the
# Collector down, a fork. Fails on any loss. Not part of `make test`
# (test-dist installs the same artifacts and runs a two-phase worker).
usercheck: dist collector
	$(GO) build -o $(BUILD)/withcollector ./e2e/cmd/withcollector
	DIST=dist WC=$(BUILD)/withcollector scripts/usercheck/run.sh
	DIST=dist WC=$(BUILD)/withcollector scripts/usercheck/run_rb.sh

clean:
	rm -rf $(BUILD) $(CACHE)/demo dist
