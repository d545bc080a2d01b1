# The front door: README's two commands. CMake does the building.
BUILD ?= build
JOBS ?= 2

.PHONY: all deps build demo test test-asan test-tsan test-release fuzz format format-check tidy clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) -- --no-print-directory

demo: build
	./$(BUILD)/vigil demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 600

test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVG_ASAN=ON -DVG_UBSAN=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j$(JOBS) -LE slow

test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DVG_TSAN=ON >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure -j$(JOBS) -LE slow

test-release: deps
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-release -j$(JOBS)
	cd build-release && ctest --output-on-failure -j$(JOBS) -L unit

# libFuzzer, ASan and UBSan on the ingest codecs (tests/fuzz/); not part of `make test`.
# Each target runs FUZZ_SECONDS from its corpus in tests/fuzz/NAME-corpus.
FUZZ_SECONDS ?= 60
FUZZ_PKGS = libcjson jansson libprotobuf-c libuv lmdb
FUZZ_TARGETS = txcodec frame
fuzz: build
	@set -e; for t in $(FUZZ_TARGETS); do \
		clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I$(BUILD) \
			$$(pkg-config --cflags $(FUZZ_PKGS)) tests/fuzz/$${t}_fuzz.c actors/txcodec.c \
			$$([ $$t = frame ] && echo actors/frame.c) \
			$(BUILD)/libvg_models.a $(BUILD)/libvg_storage.a $(BUILD)/libvg_proto.a \
			$(BUILD)/libvg_runtime.a $$(pkg-config --libs $(FUZZ_PKGS)) -lm -lpthread \
			-o $(BUILD)/$${t}_fuzz; \
		mkdir -p $(BUILD)/fuzz/$$t && cp tests/fuzz/$$t-corpus/* $(BUILD)/fuzz/$$t/; \
		(cd $(BUILD)/fuzz && ../$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=600 $$t); \
	done

tidy: build
	@clang-tidy -p $(BUILD) --quiet $$(git ls-files 'runtime/*.c' 'config/*.c' 'storage/*.c' \
		'models/*.c' 'actors/*.c' 'bench/*.c') 2>/dev/null

format:
	@git ls-files --cached --others --exclude-standard '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build build-asan build-tsan build-release
