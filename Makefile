# dayops — run `make help` for the list of targets.
# Everything a target needs is installed or built by the target itself (apt packages, Go modules, the tools
# under bin/), so a fresh clone needs only `make run` or `make test`.

SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help
GO ?= go
export PATH := $(CURDIR)/bin:/usr/local/go/bin:$(PATH)

# Pinned tool versions (the tools modules pin the rest in their own go.mod files).
WORKFLOWCHECK_VERSION ?= v0.6.0

.PHONY: help
help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install what the stack needs from Debian (redis-server, redis-tools, iproute2, PostgreSQL) and start PostgreSQL
	@scripts/ensure-deps.sh

.PHONY: tools
tools: ## Build bin/temporal, bin/temporal-server (+ temporal-sql-tool), bin/kube, bin/kubectl and bin/versitygw from their own Go modules (cached; rebuilt when their go.sum changes)
	@scripts/build-tools.sh

.PHONY: build
build: ## Build bin/dayops (the product: API, worker, CLI, audit) and bin/dayops-dev (local stack, node agent, run, bench)
	$(GO) build -o bin/ ./cmd/dayops ./cmd/dayops-dev

.PHONY: image
image: ## Build the product image without Docker (tools/image): bin/image/dayops-oci (OCI layout) and bin/dayops-image.tar (docker load); IMAGE=NAME:TAG (default dayops:VERSION, VERSION from git describe)
	cd tools/image && $(GO) run . -root $(CURDIR) $(if $(IMAGE),-image '$(IMAGE)')

.PHONY: run
run: deps tools build ## Start the local stack and dayops (API + worker) in the foreground; Ctrl-C stops everything
	bin/dayops-dev run

.PHONY: test
test: deps tools build ## Run every test against the real local stack (one shared stack for the whole run)
	@scripts/test.sh $(TESTFLAGS)

.PHONY: unit
unit: ## Run only the tests that need no local stack (go test -short: stack tests, image builds and long fault cases skip; PostgreSQL and redis-server are used; tests that mostly wait on Redis run 6 at a time; vet is left to make check; test binaries link without symbols and are kept between runs, linked again only when their sources change: internal/testutil/unitrun)
	$(GO) build -o bin/unitrun ./internal/testutil/unitrun
	bin/unitrun -p 4 -ldflags '-s -w' ./... -- -short -count=1 -parallel 6 $(TESTFLAGS)
	cd tools/image && ../../bin/unitrun -ldflags '-s -w' ./... -- -short -count=1 $(TESTFLAGS)

.PHONY: check
check: ## gofmt, go vet and workflowcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd tools/image && $(GO) vet ./...
	@test -x bin/workflowcheck || GOBIN=$(CURDIR)/bin $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)
	bin/workflowcheck -config workflowcheck.config.yaml ./internal/workflows/...

.PHONY: bench
bench: deps build ## Benchmarks that print figures: event store throughput/replay, slot migration vs redis-cli
	bin/dayops-dev bench eventstore
	bin/dayops-dev bench migrate

.PHONY: dev-up dev-down dev-status
dev-up: deps tools build ## Start only the local stack (Temporal, Kubernetes control plane, node agent)
	bin/dayops-dev dev up
dev-down: ## Stop the local stack
	@if [ -x bin/dayops-dev ]; then bin/dayops-dev dev down; fi
dev-status: ## Show the local stack's components and health
	bin/dayops-dev dev status

.PHONY: deploy-local undeploy-local
deploy-local: build ## Apply deploy/overlays/local to the running local stack (API + 2 workers in dayops-system; DAYOPS_NAMESPACES=default)
	@scripts/deploy-local.sh apply
undeploy-local: ## Delete what deploy-local applied
	@scripts/deploy-local.sh delete

.PHONY: clean
clean: dev-down ## Stop the stack and remove local state (.dayops/); keeps the built tools in bin/
	rm -rf .dayops
