# graft — make targets. `make test` is the README's test command.
GO      ?= go
# The openblas build tag routes GEMM to OpenBLAS (cgo) when the library is
# installed; otherwise graft builds in pure Go. Override with TAGS=.
OPENBLAS := $(shell ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' && echo yes)
TAGS    ?= $(if $(OPENBLAS),openblas,)
GOFLAGS_TAGS := $(if $(TAGS),-tags $(TAGS),)
SHARED  ?= ../shared

.PHONY: all build test test-pure bench bench-kernels proto lint demo docs docs-check clean

all: build

build:
	$(GO) build $(GOFLAGS_TAGS) -o bin/graft ./cmd/graft

# Every test, with the reference material in ../shared when present.
test: lint docs-check
	$(GO) test $(GOFLAGS_TAGS) -count=1 -timeout 20m ./...
	@# The conformance counts, for the record (the suites also ran above).
	@$(GO) test $(GOFLAGS_TAGS) -count=1 -run 'TestNodeSuite|TestOnnxGoConformance' -v ./onnx | grep -E '^(graft node suite|onnx-go conformance):' || true
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/graft

# graft next to onnxruntime and PyTorch, one table per build (pure Go, and
# OpenBLAS when installed); text on stdout, JSON in bench/results.json.
# Never part of `make test`. bench/README.md describes the table;
# BENCHFLAGS passes flags to bench/suite, e.g. BENCHFLAGS=-markdown.
bench:
	$(GO) run ./bench/suite $(BENCHFLAGS)

# CPU profiles of the hottest kernels (go test -bench on the convolution,
# GEMM, pooling and normalization benchmarks of package nn, with the same
# build tag as make test); prints the top of each profile. Outputs in
# bench/profiles/ (git-ignored).
KERNEL_BENCH ?= GemmOffsVsBackend|PfBlockMobileNet|ConvNHWC|ConvBatched|ConvDepthwise|ConvPointwise|ConvBackward|Gemm1024|PoolBackward|NmgBatchNormTrain|MaxPool3x3s2
bench-kernels:
	@mkdir -p bench/profiles
	$(GO) test $(GOFLAGS_TAGS) -run '^$$' -bench '$(KERNEL_BENCH)' -benchtime 5x -benchmem -cpu 2 \
	  -cpuprofile bench/profiles/nn.cpu.prof -o bench/profiles/nn.test ./nn | tee bench/profiles/nn.bench.txt
	$(GO) tool pprof -top -nodecount 25 bench/profiles/nn.test bench/profiles/nn.cpu.prof | tee bench/profiles/nn.top.txt

# Regenerate the protobuf code from onnx/onnxpb/onnx.proto (needs protoc
# from Debian's protobuf-compiler and protoc-gen-go).
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" protoc --go_out=. --go_opt=paths=source_relative onnx/onnxpb/onnx.proto

# docs/ops.md (from the op registry) and docs/cli/ (from the commands).
docs:
	$(GO) run ./cmd/graft gendocs --dir docs

# Fails when the committed docs are not what `make docs` writes.
docs-check:
	@tmp=$$(mktemp -d) && $(GO) run ./cmd/graft gendocs --dir $$tmp && diff -r docs $$tmp >/dev/null \
	  || { echo "docs/ is stale: run make docs"; rm -rf $$tmp; exit 1; }; rm -rf $$tmp

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(GOFLAGS_TAGS) ./...

# The main job on bundled material: inspect and run the bundled model.
demo: build
	bash scripts/demo.sh

clean:
	rm -rf bin
