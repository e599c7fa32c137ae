# Vayva runtime. `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
GOFILES = $$(git ls-files '*.go' | grep -v '\.pb\.go$$')
export VAYVA_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/vayva?sslmode=disable

.DEFAULT_GOAL := help

.PHONY: help
help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: services
services: ## make sure PostgreSQL and Redis are reachable (starts them if needed)
	@scripts/ensure-services.sh

.PHONY: build
build: ## build the vayva binary into bin/
	$(GO) build -o $(BIN)/vayva ./cmd/vayva

.PHONY: run
run: services build ## run a node on :8080 with sandbox providers (creates the database, applies migrations)
	@scripts/create-database.sh "$(VAYVA_DATABASE_URL)"
	VAYVA_PROVIDERS=$${VAYVA_PROVIDERS:-sandbox} VAYVA_LOG_FORMAT=$${VAYVA_LOG_FORMAT:-console} $(BIN)/vayva serve

.PHONY: migrate
migrate: services build ## apply migrations to VAYVA_DATABASE_URL
	@scripts/create-database.sh "$(VAYVA_DATABASE_URL)"
	$(BIN)/vayva migrate

.PHONY: chromium
chromium: ## make sure Chromium is installed (the ops console's browser test drives it headless)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (apt-get)"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

.PHONY: drill
DRILLFLAGS ?=
drill: services build ## three loopback members under load through join, drain, SIGKILL and SIGSTOP; prints the table (DRILLFLAGS=-short)
	$(BIN)/vayva drill $(DRILLFLAGS)

.PHONY: test
test: services chromium lint ## lint, then run every test with the race detector (real Postgres and Redis, headless Chromium)
	$(GO) test -race -count=1 -timeout 9m ./...

.PHONY: bench
BENCHCOUNT ?= 3
bench: services ## run every benchmark BENCHCOUNT times (default 3) and print one report table (also bench/report.md)
	@mkdir -p bench
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 2s -count $(BENCHCOUNT) -timeout 60m ./... | tee bench/raw.txt
	$(GO) run ./scripts/benchreport -src . bench/raw.txt > bench/report.md
	@cat bench/report.md

FUZZTIME ?= 20s
.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

.PHONY: tools
tools: $(BIN)/protoc-gen-go ## install the pinned code generators into bin/

$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

.PHONY: proto
proto: tools ## regenerate the Go code of messages/*.proto (pinned buf and protoc-gen-go)
	cd messages && $(GO) run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION) generate

.PHONY: lint
lint: $(GOLANGCI_LINT) ## go vet, gofmt check and golangci-lint (.golangci.yml, pinned version)
	$(GO) vet ./...
	@test -z "$$(gofmt -l $(GOFILES))" || { echo "gofmt needed:"; gofmt -l $(GOFILES); exit 1; }
	$(GOLANGCI_LINT) run --allow-parallel-runners ./...

# The binary's name carries its version, so changing the pin installs anew.
$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.golangci-lint $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.golangci-lint/golangci-lint $@ && rmdir $(BIN)/.golangci-lint

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN)
