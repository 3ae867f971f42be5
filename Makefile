# Backchannel: the two commands of the README, plus benchmarks, lint and formatting.
# `make demo` and `make test` each install what is missing, build and run.
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
# ccache hits across clones and folders (CI builds a fresh clone elsewhere).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
CLANG_FORMAT ?= clang-format
SOURCES = $(shell git ls-files '*.cpp' '*.hpp' '*.h' 2>/dev/null)

.PHONY: deps demo test build bench lint format format-check fuzz clean

deps:
	@scripts/install-deps

build: deps
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j $(JOBS)

demo: build
	@build/dev/bin/backchannel demo

test: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@cd build/asan && ctest -j $(JOBS) --output-on-failure

bench: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@scripts/run-benchmarks build/release

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS) --target bc_fuzzers
	@scripts/run-fuzzers build/fuzz $(FUZZ_SECONDS)

lint: deps
	@cmake --preset asan >/dev/null
	@clang-tidy -p build/asan --quiet $(filter %.cpp,$(SOURCES)) 2>/dev/null

format:
	@$(CLANG_FORMAT) -i $(SOURCES)

format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(SOURCES) && echo "format-check: $(words $(SOURCES)) files clean"

clean:
	rm -rf build
