# espprov build. Every tool is pinned and installed into .bin by `make tools`.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)

BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION := v2.33.0
GRPCURL_VERSION := v1.9.3
NFPM_VERSION := v2.48.0

# Stamped into every binary by `make build` (internal/version); `go build`
# without them falls back to the VCS data the Go toolchain records.
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo 0.1.0-dev+$(COMMIT))
# Debian version: a tag (without its v), else 0.1.0~git<commit time>.<commit>.
PKG_VERSION ?= $(shell v=$$(git describe --tags --abbrev=0 2>/dev/null) && echo $${v\#v} || echo 0.1.0~git$$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null).$(COMMIT))
LDFLAGS := -s -w -X github.com/espprov/espprov/internal/version.Version=$(VERSION) \
	-X github.com/espprov/espprov/internal/version.Commit=$(COMMIT) \
	-X github.com/espprov/espprov/internal/version.Date=$(DATE)
DIST ?= $(CURDIR)/dist

TOOLS := $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc \
	$(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2 $(BIN)/grpcurl $(BIN)/nfpm

.PHONY: test-ble package client-tools test-clients all build test test-short race fuzz lint breaking generate checkgenerate tools demo bench clean

all: build

$(BIN)/buf:
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(BIN)/protoc-gen-grpc-gateway:
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(BIN)/protoc-gen-openapiv2:
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)
$(BIN)/grpcurl:
	GOBIN=$(BIN) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
$(BIN)/nfpm:
	GOBIN=$(BIN) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

# Client generators (see buf.gen.clients.yaml): Debian's protoc 3.21 and
# grpc_python_plugin must be installed (apt); protoc-gen-es comes from
# clients/typescript/package-lock.json through `npm ci`.
TS_CLIENT := clients/typescript
NPM_STAMP := $(TS_CLIENT)/node_modules/.npm-ci-stamp
CLIENT_TOOLS_HELP := apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf nodejs npm

$(NPM_STAMP): $(TS_CLIENT)/package-lock.json $(TS_CLIENT)/package.json
	@command -v npm >/dev/null || { echo "make: npm not found; the TypeScript client generator needs it: $(CLIENT_TOOLS_HELP)" >&2; exit 1; }
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

client-tools: $(NPM_STAMP)
	@command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null || { \
		echo "make: protoc and grpc_python_plugin not found; the Python client generator needs Debian's: $(CLIENT_TOOLS_HELP)" >&2; exit 1; }
	@protoc --version | grep -q '^libprotoc 3\.21\.' || { \
		echo "make: $$(protoc --version) found, the committed Python client is generated with libprotoc 3.21 (Debian bookworm's protobuf-compiler): $(CLIENT_TOOLS_HELP)" >&2; exit 1; }

tools: $(TOOLS) client-tools

# Everything compiles; espprovd, espprov and espsim go to $(DIST)/bin with
# version, commit and date stamped (`espprovd --version`).
build:
	$(GO) build ./...
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/bin/ ./cmd/espprovd ./cmd/espprov ./cmd/espsim

# The Debian package (internal/packaging/deb): binaries, systemd unit,
# /etc/espprov config, unprivileged espprov user. Tested by
# internal/packaging (dpkg -i, then a provisioning through the installed
# espprovd), which runs this target.
package: build $(BIN)/nfpm
	sed 's|$${PKG_BIN}|$(DIST)/bin|' internal/packaging/deb/nfpm.yaml > '$(DIST)/nfpm.yaml'
	PKG_VERSION='$(PKG_VERSION)' PKG_ARCH=$$($(GO) env GOARCH) \
		nfpm package --config '$(DIST)/nfpm.yaml' --packager deb --target '$(DIST)/'

# Regenerate all protobuf code (committed).
generate: tools
	find api internal/wire \( -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' \) -delete
	buf generate --template buf.gen.yaml
	buf generate --template buf.gen.wire.yaml
	rm -rf $(TS_CLIENT)/src/gen && find clients/python/espprov/v1 -name '*_pb2*' -delete
	buf generate --template buf.gen.clients.yaml

GENERATED := api internal/wire clients/python/espprov/v1 $(TS_CLIENT)/src/gen

# Fails when the committed generated code differs from what buf generates.
checkgenerate: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "generated code is stale; run 'make generate' and commit:"; \
		git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); exit 1; fi

lint: tools
	buf lint
	$(GO) mod tidy -diff
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

# API compatibility: the proto must stay wire- and source-compatible with
# the previous commit (field numbers never reused, nothing removed/renamed).
breaking: tools
	@prev=$$(git rev-parse -q --verify 'HEAD~1^{commit}') || { echo "buf breaking: no previous commit in this clone (shallow?); fetch more history to check"; exit 1; }; \
	echo "buf breaking against $$prev"; buf breaking --against ".git#ref=$$prev"

# The whole test suite (what CI runs): generated code fresh, lint, API
# compatibility, tests with the race detector, and a short run of every fuzz target.
test: tools checkgenerate lint breaking
	$(GO) test -race -count=1 -timeout 15m ./...
	# The load test once more without the race detector, whose own
	# bookkeeping hides whether memory comes back after the load.
	$(GO) test -count=1 -run '^TestLoad$$' ./services/provisioning
	$(MAKE) test-clients
	$(MAKE) test-ble
	$(MAKE) fuzz

# The Python and TypeScript client suites (with README's curl + jq block) and
# examples/mes, each against a
# real espprovd + espsim that the tests start on loopback; the binaries are
# built here into a temporary directory. Debian's python3 (python3-grpcio,
# python3-protobuf), not a pyenv/venv one.
PYTHON ?= /usr/bin/python3
# The BLE suite against real BlueZ: bluetoothd and virtual LE controllers
# (btvirt) in a QEMU guest booted from Debian's kernel (test/bluez/README.md).
# Flags for the suite's test binary go in BLEFLAGS (e.g. -test.run Provision).
test-ble:
	test/bluez/run.sh $(BLEFLAGS)

test-clients: client-tools
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	echo "go build espprovd espsim -> $$d"; $(GO) build -o "$$d" ./cmd/espprovd ./cmd/espsim; \
	export ESPPROV_BIN_DIR="$$d"; \
	echo "== Python client (python3 -m unittest)"; (cd clients/python && $(PYTHON) -m unittest discover -s tests -v); \
	echo "== TypeScript client (node --test)"; (cd $(TS_CLIENT) && npm test --silent); \
	echo "== examples/mes (python3 -m unittest)"; (cd examples/mes && $(PYTHON) -m unittest -v)

# package:target:executions. Every decoder that reads device bytes has a
# target. Counts, not durations: each runs a few seconds here, and a count
# avoids the fuzzer's end-of-time race ("context deadline exceeded").
# FUZZSCALE multiplies them for a longer local run (make fuzz FUZZSCALE=100).
FUZZSCALE ?= 1
FUZZ_TARGETS := \
	./internal/protocomm:FuzzParseVersion:50000 \
	./internal/protocomm:FuzzSessionResponses:10000 \
	./security/sec1:FuzzClientResponses:50000 \
	./security/sec1:FuzzDeviceRequests:20000 \
	./security/sec2:FuzzClientResponses:10000 \
	./security/sec2:FuzzDeviceRequests:20000 \
	./internal/wifiprov:FuzzScanReplies:20000 \
	./internal/wifiprov:FuzzConfigReplies:20000 \
	./internal/wifiprov:FuzzCtrlReplies:20000 \
	./internal/mapping:FuzzDeviceReplies:10000 \
	./internal/mapping:FuzzParseTags:20000 \
	./internal/mapping:FuzzParseMetadata:20000 \
	./internal/rainmaker:FuzzCloudReplies:10000 \
	./internal/rainmaker:FuzzDecodeClaims:20000 \
	./internal/cli:FuzzParseQR:5000 \
	./internal/cli:FuzzLoginReplies:2000 \
	./transports/httpd:FuzzResponses:10000 \
	./transports/console:FuzzParser:50000 \
	./transports/onnetwork:FuzzBrowseMessages:20000 \
	./transports/onnetwork:FuzzParseVersion:20000 \
	./internal/sim/device:FuzzHandle:20000 \
	./internal/sim/httpd:FuzzRequests:10000 \
	./internal/sim/console:FuzzCommand:20000 \
	./internal/sim/cloud:FuzzServe:10000 \
	./internal/sim/rmaker:FuzzEndpoints:10000 \
	./internal/sim/device:FuzzHandleNetProv:20000 \
	./internal/netprov:FuzzReplies:20000 \
	./internal/thread:FuzzParse:100000 \
	./transports/ble:FuzzEndpointMap:20000 \
	./internal/sim/peripheral:FuzzGATT:10000
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$$(( $${rest##*:} * $(FUZZSCALE) )); \
		echo "fuzz $$pkg $$fn ($${n} executions)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $${n}x -fuzzminimizetime 50x; \
	done

# The main job on the embedded default: a simulated device, the server, and
# one provisioning through the gRPC API with its progress printed.
demo:
	$(GO) run ./cmd/espprovd --demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./security/... ./services/... ./internal/sim/device ./internal/server/...

clean:
	rm -rf $(BIN) $(DIST)
