# vswitch — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X vswitch/daemon.Version=$(VERSION) -X vswitch/daemon.Commit=$(COMMIT) \
           -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PKGS := ./...
SOAK_MINUTES ?= 2

.PHONY: help build deb man test test-unit test-e2e race soak fuzz-short demo bench bench-quick bench-go lint deps clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# CGO_ENABLED=0: vswitchd drops its capabilities from every thread with
# unix.AllThreadsSyscall, which a cgo binary cannot do (docs/architecture.md).
build: ## build bin/vswitchd, bin/vswitchctl and the CNI plugin bin/vswitch-cni
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/vswitchd ./cmd/vswitchd
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/vswitchctl ./cmd/vswitchctl
	CGO_ENABLED=0 $(GO) build -o bin/vswitch-cni ./cmd/vswitch-cni

# The package is staged from bin/ by packaging/mkdeb.sh (dpkg-deb, no
# debhelper); VERSION (git describe) becomes its version. Installing it is
# docs/operators.md's first section.
deb: build ## build the Debian package dist/vswitch_VERSION_ARCH.deb (binaries, unit, completions, man pages, config)
	@packaging/mkdeb.sh "$(VERSION)" dist

man: build ## write the manual pages (vswitchd.8, vswitchctl*.1) to bin/man
	@mkdir -p bin/man
	@bin/vswitchd --man >bin/man/vswitchd.8
	@bin/vswitchctl man bin/man >/dev/null
	@echo "man pages in bin/man: man -l bin/man/vswitchd.8"

deps: ## install the Debian packages the tests and demo use (when missing)
	@scripts/deps.sh

test: deps build ## all three tiers: unit, in-memory pipeline, namespace (root); then each fuzz target briefly
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x $(PKGS)
	@scripts/fuzz-short.sh

race: build ## the tests with the race detector
	$(GO) test -count=1 -race -timeout 20m $(PKGS)

soak: build ## churn (ports, networks) and traffic for SOAK_MINUTES (default 2); fails if fds or RSS grow
	@SOAK_MINUTES=$(SOAK_MINUTES) scripts/soak.sh

fuzz-short: ## each fuzz target for a few seconds
	@scripts/fuzz-short.sh

demo: deps build ## the main job on the default network: three namespaces, ping, HTTP
	@scripts/demo.sh

bench: build ## vswitchd against the kernel bridge + iptables (≤ 20 min)
	@bench/run.sh

bench-quick: build ## the same, one pair, short measurements (≤ 4 min)
	@bench/run.sh --quick

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: run gofmt -w'; exit 1; }
	$(GO) vet $(PKGS)

clean: ## remove build output
	rm -rf bin dist
