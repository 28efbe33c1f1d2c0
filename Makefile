# replaudit's build. `sam build` uses the makefile build method: for each
# function it runs `make build-<LogicalId>` with ARTIFACTS_DIR set.

GO         ?= go
TOOLS      := .tools
DYNALITE   := $(TOOLS)/node_modules/dynalite/cli.js
DYNALITE_VERSION := 4.0.0
STATICCHECK_VERSION := v0.8.2
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w"

# Each function in template.yaml, as LogicalId:folder-under-functions/.
# internal/stack's test checks this list against the template.
FUNCTIONS := ReplicationSetupFunction:replication-setup ReplicationAuditorFunction:replication-auditor ReplicationSweeperFunction:replication-sweeper InventoryReconcilerFunction:inventory-reconciler

folder = $(patsubst $(1):%,%,$(filter $(1):%,$(FUNCTIONS)))

.PHONY: help build test soak demo lint tools clean

help:
	@echo "make demo    run the whole job locally on the sandbox"
	@echo "make test    run every test (installs dynalite first)"
	@echo "make soak    the fault suite at full size: faults, crashes between calls, a few minutes"
	@echo "make lint    gofmt, go vet and staticcheck"
	@echo "make build   build the CLI into bin/ and each function into bin/<function>/bootstrap"
	@echo "sam build && sam deploy --guided    deploy to AWS"

# sam build calls this once per function.
build-%:
	@test -n "$(call folder,$*)" || { echo "make: $* is not a function in FUNCTIONS (Makefile)"; exit 2; }
	@test -n "$(ARTIFACTS_DIR)" || { echo "make: ARTIFACTS_DIR is not set: sam build sets it, or use 'make build'"; exit 2; }
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(call folder,$*)

build:
	$(GO) build -o bin/replaudit ./cmd/replaudit
	@for f in $(FUNCTIONS); do \
		id=$${f%%:*}; dir=$${f#*:}; \
		$(MAKE) --no-print-directory build-$$id ARTIFACTS_DIR=$(CURDIR)/bin/$$dir || exit 1; \
	done

# dynalite (DynamoDB for the sandbox) and the Lambda Runtime Interface
# Emulator (to run real bootstrap binaries) go into a project-local folder.
RIE := $(TOOLS)/bin/aws-lambda-rie

tools: $(DYNALITE) $(RIE)

$(RIE): go.mod
	GOBIN=$(CURDIR)/$(TOOLS)/bin $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie

$(DYNALITE):
	@command -v node >/dev/null 2>&1 || { echo "make: node is missing: the sandbox runs DynamoDB on dynalite, a Node.js program (Debian: apt-get install nodejs npm)"; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is missing: it installs dynalite (Debian: apt-get install npm)"; exit 1; }
	@major=$$(node -p 'process.versions.node.split(".")[0]'); [ "$$major" -ge 20 ] || \
		echo "make: warning: dynalite $(DYNALITE_VERSION) asks for Node.js 20 or newer; this is $$(node --version)"
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm install --no-audit --no-fund --loglevel=error dynalite@$(DYNALITE_VERSION)

# DuckDB, which the CLI's verify embeds and the tests run, is C++ linked
# through cgo: the tests need a C compiler (the functions never do).
cgo:
	@[ "$$($(GO) env CGO_ENABLED)" = 1 ] || { echo "make: cgo is off (no C compiler found, or CGO_ENABLED=0): the tests link DuckDB through cgo (Debian: apt-get install gcc)"; exit 1; }

test: tools cgo
	REPLAUDIT_REQUIRE_TOOLS=1 $(GO) test -count=1 ./...

# The stack as template.yaml deploys it: the sandbox provisioned from the
# template, every function's real bootstrap under the runtime emulator, the
# whole job from CloudFormation's Create to its Delete (make test runs it too).
.PHONY: e2e cgo
e2e: tools
	REPLAUDIT_REQUIRE_TOOLS=1 $(GO) test -count=1 ./e2e/

# The fault suite, bigger than make test runs it: eight scenarios on the
# sandbox at 600 objects each, and every incident transition stopped
# between each two of its calls. Loopback only; about four and a half minutes.
soak: SHELL := /bin/bash
soak: .SHELLFLAGS := -o pipefail -c
soak: tools
	REPLAUDIT_REQUIRE_TOOLS=1 REPLAUDIT_SOAK=full $(GO) test -count=1 -timeout 15m -v -run 'TestSoak|Survives' ./internal/soak/ ./internal/incident/ 2>&1 | grep -E '^(=== RUN   [A-Za-z]+$$|--- |ok|FAIL|panic)|--- FAIL|soak_test'

demo: tools
	$(GO) run ./cmd/replaudit demo

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if GOBIN=$(CURDIR)/$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) 2>/dev/null; then \
		$(TOOLS)/bin/staticcheck ./...; \
	else echo "staticcheck $(STATICCHECK_VERSION) could not be installed from the module proxy; skipped"; fi
	@if command -v cfn-lint >/dev/null 2>&1; then cfn-lint template.yaml && echo "cfn-lint: template.yaml is valid"; \
	else echo "cfn-lint is not installed (pip install cfn-lint); template check skipped"; fi

clean:
	rm -rf bin .aws-sam
