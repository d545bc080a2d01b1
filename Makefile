# The front door: README's two commands. CMake does the building.
BUILD ?= build
JOBS ?= 2

.PHONY: all deps build demo test test-asan test-tsan test-release format format-check tidy clean

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

tidy: build
	@clang-tidy -p $(BUILD) --quiet $$(git ls-files 'runtime/*.c' 'config/*.c' 'storage/*.c' \
		'models/*.c' 'actors/*.c' 'bench/*.c') 2>/dev/null

format:
	@git ls-files --cached --others --exclude-standard '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build build-asan build-tsan build-release
