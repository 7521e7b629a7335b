# offload: build, serve, test. Run "make help" for the targets.

GO       ?= go
ARGS     ?=
PKGS     := ./...
# -p 1: the packages that drive load at real servers share the machine's
# cores with nothing else, so their timings compare like with like.
GOFLAGS_TEST ?= -race -count=1 -p 1 -timeout 20m
# Fuzz targets as package:target; each runs FUZZTIME in "make fuzz" and
# FUZZ_SMOKE executions in "make test" (their seed corpora run in every go
# test). The smoke run counts executions rather than seconds: on go1.26 a
# duration -fuzztime can fail with a spurious "context deadline exceeded" when
# the deadline fires while a worker is mid-call (go.dev/issue/75804, fixed in
# go1.27), and an execution count sets no deadline to race.
FUZZ_TARGETS := ./handlers:FuzzParseWork ./handlers:FuzzServe ./handlers:FuzzRequestHeaders ./server:FuzzRawRequest
FUZZTIME     ?= 60s
FUZZ_SMOKE   ?= 20000x

.PHONY: help build run test lint vet staticcheck fmt-check clean fuzz fuzz-smoke

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# -buildvcs=auto records the git revision (offload_build_info) whenever the
# tree is a git checkout, whatever GOFLAGS the environment sets.
BUILDFLAGS ?= -buildvcs=auto

build: ## build bin/server and bin/loadtest
	$(GO) build $(BUILDFLAGS) -o bin/server ./cmd/server
	@if [ -d cmd/loadtest ]; then $(GO) build $(BUILDFLAGS) -o bin/loadtest ./cmd/loadtest; fi

run: build ## build and serve on :8080 with the defaults (pass flags with ARGS="-pool 4")
	./bin/server $(ARGS)

test: lint ## vet, staticcheck, gofmt, every test with the race detector, 20,000 executions of each fuzz target
	$(GO) test $(GOFLAGS_TEST) $(PKGS)
	$(MAKE) --no-print-directory fuzz-smoke

fuzz: ## run each fuzz target for FUZZTIME (default 60s)
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) $${t%%:*} || exit 1; \
	done

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_SMOKE)

lint: vet staticcheck fmt-check ## static checks only

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) tool staticcheck $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

clean: ## remove built binaries
	rm -rf bin

# The experiments (issue 3). Results go to results/NAME-TIMESTAMP/, which is
# gitignored; copy the runs worth keeping to docs/experiment/.
.PHONY: experiment wrk-sweep overload-experiment

experiment: build ## pool sweep (median of 3) and accept-vs-done on this machine, ~4 min on 2 cores
	./bin/loadtest sweep -repeat 3 -out results
	./bin/loadtest accept-vs-done -out results
	@echo; echo "results: $$(ls -d results/sweep-* | tail -n 1) and $$(ls -d results/accept-vs-done-* | tail -n 1)"

overload-experiment: build ## static queue against adaptive overload control, every phase side by side (~4 min on 2 cores)
	./bin/loadtest overload -out results

wrk-sweep: build ## the sweep driven by wrk and the built-in generator side by side (10 s windows, ~7 min), req/s ratio per row
	./bin/loadtest sweep -engines builtin,wrk -repeat 3 -d 10s -name wrk-sweep -out results

# Performance (issue 4). Both start their own servers on 127.0.0.1; run them
# on an otherwise idle machine, and not at the same time as each other.
.PHONY: bench soak cluster

bench: build ## every performance target, one report row each (about 6 minutes on 2 cores)
	$(GO) build -o bin/plainserver ./internal/plainserver
	./bin/loadtest bench -out results; status=$$?; \
	dir=$$(ls -d results/bench-* | tail -n 1); \
	$(GO) test -run '^$$' -bench '^(BenchmarkHandOff|BenchmarkData)$$' -benchmem -count 6 ./workers ./handlers > $$dir/go-bench.txt && \
	echo "Go benchmarks of the hand-off path: $$dir/go-bench.txt (benchstat it)"; exit $$status

cluster: ## three servers behind HAProxy (deploy/haproxy), restarted in turn under load; every request must get its 200
	$(GO) test -count=1 -v -run '^TestRollingRestartBehindHAProxyLosesNothing$$' ./deploy

soak: build ## 10 minutes at 80% of capacity with slowloris and reset bursts; resources must stay flat
	./bin/loadtest soak -out results
