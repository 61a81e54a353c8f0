# Two commands: `make dev` and `make test`. Everything else is CMake.
JOBS ?= $(shell nproc)
BUILD ?= build/release
ASAN_BUILD ?= build/asan
BUSTED ?= busted --lua=luajit

.PHONY: all deps build build-asan dev test lint fuzz soak bench docs clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

dev: build
	$(BUILD)/eddy dev

# C units run in the ASan+UBSan build; the specs drive the release binary.
test: build build-asan
	@scripts/run-tests $(BUILD) $(ASAN_BUILD)

# Every C file follows .clang-format (make test runs this too).
lint:
	@scripts/lint

# The libFuzzer targets (tests/fuzz/README.md), FUZZ_SECONDS each.
FUZZ_SECONDS ?= 300
fuzz: deps
	@scripts/fuzz $(FUZZ_SECONDS)

# The long crash loop: 20 SIGKILLs during a 200k-event run, nothing lost.
soak: build
	EDDY_BIN=$(CURDIR)/$(BUILD)/eddy EDDY_MOCK=$(CURDIR)/$(BUILD)/eddy-mock \
	EDDY_CRASH_KILLS=20 EDDY_CRASH_EVENTS=200000 EDDY_CRASH_PARTITIONS=64 \
	EDDY_CRASH_HANDLER_S=0 $(BUSTED) spec/e2e/crash_spec.lua

bench: build
	bench/run

docs: build
	$(BUILD)/eddy config-doc > docs/config.md

clean:
	rm -rf build/release build/asan build/fuzz
