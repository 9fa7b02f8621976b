# vmx: `make demo` runs the main job on the embedded defaults, `make test`
# runs the tests. Everything else is for developers.

GO          ?= go
BIN         := bin
VMX         := $(BIN)/vmx
STATICCHECK := $(BIN)/staticcheck
SHARED      ?= $(abspath ../shared)
FUZZTIME    ?= 30s
BENCHTIME   ?= 10x
DEMO_DIR    ?= out/demo
ONCE        ?=

export VMX_SHARED_DIR := $(SHARED)

# The embedded PocketSphinx engine is built when Debian's libpocketsphinx-dev
# is installed (.ci/run and make deps install it); without it vmx still
# builds and reports the engine as unavailable. lambda.norpc leaves out
# aws-lambda-go's go1.x RPC mode (vmx runs on provided.al2023), whose
# net/rpc would keep every method of every type in the binary.
GOTAGS ?= lambda.norpc $(shell pkg-config --exists pocketsphinx sphinxbase 2>/dev/null && echo pocketsphinx)

.PHONY: all build test lint bench fuzz demo clean

all: build

build:
	$(GO) build -tags '$(GOTAGS)' -o $(VMX) ./cmd/vmx

# The whole test suite, fuzz seed corpora included, on SQLite and on a
# throwaway PostgreSQL server.
test:
	GO=$(GO) GOTAGS='$(GOTAGS)' ./scripts/test.sh

$(STATICCHECK):
	GOBIN=$(abspath $(BIN)) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.7.0

lint: $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags '$(GOTAGS)' ./...
	$(STATICCHECK) -tags '$(GOTAGS)' ./...
	GO=$(GO) GOTAGS='$(GOTAGS)' ./scripts/check-deadcode.sh

# Go benchmarks, then whole-process measurements of `vmx extract` against
# Voicemail Express's Node decoder (see docs/PERFORMANCE.md).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./internal/mkv ./internal/extract
	cd bench/vmx-node && npm ci --no-audit --no-fund
	$(VMX) bench extract --minutes 1,5,25 --node bench/vmx-node

# Each fuzz target (every parser of outside input) for FUZZTIME. New
# crashers land in testdata/fuzz and become regression cases of make test.
FUZZ_TARGETS := \
	internal/arn:FuzzParseQueue \
	internal/asr/sherpa:FuzzParseTokens \
	internal/asr/sherpa:FuzzParseONNX \
	internal/asr/textutil:FuzzCallbackNumbers \
	internal/asr/textutil:FuzzMask \
	internal/asr/wer:FuzzAlign \
	internal/config:FuzzParseDuration \
	internal/config:FuzzDecodeYAML \
	internal/connect:FuzzCut \
	internal/connect:FuzzQVMBAddress \
	internal/ctr:FuzzParse \
	internal/email:FuzzSubject \
	internal/email:FuzzRecipients \
	internal/live:FuzzStartRequest \
	internal/mkv:FuzzFragmentReader \
	internal/mkv:FuzzConnectRoundTrip \
	internal/recording:FuzzParseRequest \
	internal/salesforce:FuzzQuoteString \
	internal/wav:FuzzReader \
	internal/web:FuzzParseSearch \
	internal/web:FuzzParseSegments

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t"; \
	  $(GO) test -tags '$(GOTAGS)' -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./$${t%%:*}; \
	done

# The demo installs what it needs (Debian, as root), builds vmx and runs it
# end to end; ONCE=1 exits after the voicemail is delivered.
demo:
	ONCE='$(ONCE)' GO='$(GO)' MAKE='$(MAKE)' ./scripts/demo.sh $(VMX) $(DEMO_DIR)

# AWS Lambda packages: dist/lambda/vmx-lambda-{arm64,x86_64}.zip (the vmx
# binary as bootstrap, provided.al2023) and the CloudFormation template;
# prints their sha256 and the upload commands (docs/deploy-aws.md).
.PHONY: lambda
lambda:
	GO=$(GO) ./scripts/lambda-package.sh dist/lambda

clean:
	rm -rf $(BIN) out
