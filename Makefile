# Two commands: `make dev` and `make test`. Everything else is CMake.
JOBS ?= $(shell nproc)
BUILD ?= build/release
ASAN_BUILD ?= build/asan
BUSTED ?= busted --lua=luajit

.PHONY: all deps build build-asan dev test lint fuzz bench docs clean

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

bench: build
	bench/run

docs: build
	$(BUILD)/eddy config-doc > docs/config.md

clean:
	rm -rf build/release build/asan build/fuzz
