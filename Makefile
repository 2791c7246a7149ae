# Kayle ID organizations server. `make run` serves on a local SQLite file;
# `make test` runs every test against SQLite and a real PostgreSQL.
SHELL     := /bin/bash
GO        ?= go
BIN       := bin/kayleid
PKGS      := ./...

.PHONY: all build run reset idp test test-short generate check-generated config-table vet fmt clean vendor-docs breaking conformance contract bench cluster

# What `make breaking` compares the working openapi.json (with overlay) against.
BASE      ?= HEAD

all: build

build:
	$(GO) build -o $(BIN) ./cmd/kayleid

# Serves on 127.0.0.1:8787 with the embedded SQLite default (kayle-id.db).
run: build
	@echo ""
	@echo "Kayle ID organizations server on http://127.0.0.1:8787 (SQLite: $${DATABASE_URL:-kayle-id.db})"
	@echo "API reference (this server's operations, and how to get a token): http://127.0.0.1:8787/docs"
	@echo "In another terminal (the quick start in README.md goes on from here):"
	@echo "  ./$(BIN) users create --email ada@example.com --name Ada"
	@echo "  TOKEN=\$$(./$(BIN) tokens create --email ada@example.com | jq -er .token)"
	@echo "  curl -sS -X POST -H \"Authorization: Bearer \$$TOKEN\" -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"name\":\"Acme\",\"slug\":\"acme\"}' http://127.0.0.1:8787/v1/auth/orgs"
	@echo "  curl -sS -X POST -H \"Authorization: Bearer \$$TOKEN\" http://127.0.0.1:8787/v1/auth/orgs/members/leave"
	@echo ""
	./$(BIN) serve

# Deletes what `make run` keeps in this folder, so the walkthroughs start
# from an empty server: the default SQLite database (kayle-id.db and its
# -wal and -shm files), mail-outbox/ (KAYLE_MAIL_DIR's default) and
# storage/ (KAYLE_STORAGE_URL's default, the logos). Nothing else.
reset:
	rm -f kayle-id.db kayle-id.db-wal kayle-id.db-shm
	rm -rf mail-outbox storage

# Three replicas over one PostgreSQL (DATABASE_URL when it is a postgres://
# URL, otherwise a throwaway cluster) behind HAProxy with deploy/haproxy.cfg,
# on loopback. `kill -HUP` the printed pid for a rolling restart; Ctrl-C stops.
CLUSTER_FLAGS ?=
cluster: build
	$(GO) run ./internal/tools/cluster -bin $(BIN) $(CLUSTER_FLAGS)

# An OpenID provider on 127.0.0.1:9998 to try the server behind
# (docs/api.md, "Signing in through an identity provider"):
# internal/tools/devidp, a Go module of its own. IDP_FLAGS passes options
# (e.g. IDP_FLAGS='-keys bin/devidp-keys.json').
IDP_BIN   := bin/devidp
IDP_FLAGS ?=
idp:
	cd internal/tools/devidp && GOWORK=off $(GO) build -o $(CURDIR)/$(IDP_BIN) .
	@echo ""
	@echo "OpenID provider on http://127.0.0.1:9998 (users ada, grace, mallory: internal/tools/devidp/users.json)"
	@echo "In another terminal:"
	@echo "  KAYLE_OIDC_ISSUER=http://127.0.0.1:9998 KAYLE_OIDC_AUDIENCE=http://127.0.0.1:8787 make run"
	@echo "then sign in and call the API as docs/api.md \"Signing in through an identity provider\" shows."
	@echo ""
	./$(IDP_BIN) $(IDP_FLAGS)

# PostgreSQL: TEST_DATABASE_URL when set, otherwise a throwaway cluster
# started by the tests with initdb/pg_ctl (and stopped afterwards).
test:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# The verify WebSocket's Cap'n Proto code (api/verify.capnp -> gen/verifycapnp)
# needs the `capnp` compiler (Debian's capnproto package); the Go plugin is
# the go.mod tool capnpc-go, fed the compiler's request on stdin, and go.capnp
# comes from the same module's std/ directory.
generate:
	$(GO) tool oapi-codegen -config oapi-codegen.yaml openapi.json
	@command -v capnp >/dev/null || { echo "make generate: capnp not found (apt-get install capnproto)" >&2; exit 1; }
	set -o pipefail; capnp compile -I"$$($(GO) list -m -f '{{.Dir}}' capnproto.org/go/capnp/v3)/std" --src-prefix=api -o- api/verify.capnp \
		| (cd gen/verifycapnp && $(GO) tool capnpc-go)

# Fails when the committed gen/ differs from a fresh generation.
check-generated:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp -r gen $$tmp/gen.before; \
	$(MAKE) -s generate >/dev/null; \
	if ! diff -ru $$tmp/gen.before gen; then \
		cp -r $$tmp/gen.before/. gen/; \
		echo "gen/ is stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi

# Rewrite the configuration table (between the config-table markers) from
# serve's flag declarations in cmd/kayleid/cli.go; a test in cmd/kayleid
# fails while the document's differs. The table lives in docs/operators.md,
# or README.md before that document exists.
CONFIG_DOC := $(if $(wildcard docs/operators.md),docs/operators.md,README.md)
config-table:
	$(GO) run ./cmd/kayleid config-table --write $(CONFIG_DOC)

# Refresh the embedded API reference page's Redoc build from the npm registry
# (version pinned in docs-ui/package.json and its lockfile).
vendor-docs:
	cd docs-ui && npm ci --ignore-scripts --no-audit --no-fund
	cp docs-ui/node_modules/redoc/bundles/redoc.standalone.js server/assets/
	cp docs-ui/node_modules/redoc/bundles/redoc.standalone.js.LICENSE.txt server/assets/

# Every (operation, documented status) pair and how many test answers
# produced it; fails unless each is produced or allowlisted with a reason
# (api/conformance-allowlist.txt). `make test` runs the same check.
conformance:
	@set -o pipefail; $(GO) test -count=1 -v ./server | grep '^conformance:' | sed 's/^conformance: //'

# Benchmarks: the validator against stock openapi3filter, whole requests
# in-process, audit search and logo checks at their bounds, whole document
# checks (verify/document: P-256 and RSA-2048 documents), then the load
# benchmark (real server processes on PostgreSQL and SQLite, validation
# full and off), then the webhook pipeline (a server process sending to
# three receivers that verify every signature). BENCH_FLAGS passes options
# to the load benchmark (e.g. BENCH_FLAGS='-duration 5s -db sqlite'),
# WEBHOOK_BENCH_FLAGS to the webhook one (e.g. '-events 3000 -rate 200').
BENCH_FLAGS ?=
WEBHOOK_BENCH_FLAGS ?=
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./validator ./server ./store ./logo ./webhooks/... ./verify/document ./verify/proto ./verify/biometric
	$(GO) run ./internal/tools/loadbench -bin $(BIN) $(BENCH_FLAGS)
	$(GO) run ./internal/tools/webhookbench -bin $(BIN) $(WEBHOOK_BENCH_FLAGS)

# External check: Stoplight Prism (pinned in contract/package-lock.json) in
# proxy mode with --errors in front of a fresh server; the conformance
# scenario goes through it and any violation fails.
contract: build
	cd contract && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	$(GO) run ./internal/tools/contract -bin $(BIN) -prism contract/node_modules/.bin/prism

# Breaking-change report: the served spec (openapi.json + overlay, cut to the
# operations oapi-codegen.yaml lists) of the working tree against that of
# $(BASE); fails on breaking changes.
breaking:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	mkdir -p $$tmp/base/api; \
	for f in openapi.json oapi-codegen.yaml api/overlay.yaml; do \
		git show "$(BASE):$$f" > $$tmp/base/$$f 2>/dev/null || { [ $$f = openapi.json ] && { echo "breaking: no openapi.json at $(BASE)" >&2; exit 2; }; rm -f $$tmp/base/$$f; }; \
	done; \
	$(GO) run ./internal/tools/specbuild -root $$tmp/base -o $$tmp/base.json && \
	$(GO) run ./internal/tools/specbuild -o $$tmp/head.json && \
	echo "breaking changes from $(BASE) to the working tree:" && \
	$(GO) tool oasdiff breaking $$tmp/base.json $$tmp/head.json --fail-on ERR && echo "none that break clients"

vet:
	$(GO) vet $(PKGS)
	cd internal/tools/devidp && GOWORK=off $(GO) vet ./...
	cd examples/goclient && GOWORK=off $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
