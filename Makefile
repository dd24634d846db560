# wmbench - build, test, benchmark, install.
# Flags come from pkg-config: Open MPI, OpenBLAS, libarchive, libyaml, zlib, libsodium, FreeType.
CC      := mpicc
PKGS    := openblas libarchive yaml-0.1 zlib libsodium freetype2
CFLAGS  ?= -O3 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -march=x86-64-v2 -fno-math-errno $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm
PREFIX  ?= /usr/local
QUICK_NP ?= 3
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OPENBLAS_NUM_THREADS := 1

LIB_SRC := $(wildcard workers/*.c) $(wildcard schemes/*.c) $(wildcard attacks/*.c) \
           $(wildcard reports/*.c) $(filter-out harness/main.c,$(wildcard harness/*.c))
LIB_OBJ := $(LIB_SRC:%.c=build/%.o)
TESTS   := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/test_*.c))
BENCHES := $(patsubst tests/%.c,build/tests/%,$(wildcard tests/bench_*.c))
# The report alone: reports/ and the general helpers of workers/util.c, with
# the libraries they need. test_report links only this, so a report that used
# anything of the engine, the plug-ins or the harness would not link.
REPORT_OBJ  := $(patsubst %.c,build/%.o,$(wildcard reports/*.c)) build/workers/util.o
REPORT_LIBS := $(shell pkg-config --libs libarchive libsodium) -lm

.PHONY: all check unit bench deps install clean repro robustness calibrate quick format format-check layers

all: wmbench

# -MMD -MP: each object depends on the headers it includes (build/*.d).
build/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

build/libwm.a: $(LIB_OBJ)
	ar rcs $@ $^

build/libreport.a: $(REPORT_OBJ)
	rm -f $@
	ar rcs $@ $^

wmbench: build/harness/main.o build/libwm.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Every test and benchmark links the shared fixtures of tests/testlib.{c,h}.
TEST_CFLAGS := -Iworkers -Iharness $(shell pkg-config --cflags cmocka)
build/tests/testlib.o: CFLAGS += $(TEST_CFLAGS)

build/tests/%: tests/%.c build/tests/testlib.o build/libwm.a Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $(TEST_CFLAGS) -o $@ $< build/tests/testlib.o \
		build/libwm.a $(LDLIBS) $(shell pkg-config --libs cmocka)

build/tests/test_report: tests/test_report.c build/libreport.a Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $(shell pkg-config --cflags cmocka) -o $@ $< \
		build/libreport.a $(REPORT_LIBS) $(shell pkg-config --libs cmocka)

# A wmbench with a plug-in from a test file (tests/e2e_plugin.sh).
build/tests/wmbench-plugin: build/harness/main.o build/tests/plugins/test_scale.o \
		build/tests/plugins/test_flaky.o build/libwm.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/tests/plugins/%.o: tests/plugins/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

-include $(LIB_OBJ:.o=.d) build/harness/main.d build/tests/testlib.d $(TESTS:=.d) $(BENCHES:=.d) \
	build/tests/plugins/test_scale.d build/tests/plugins/test_flaky.d

# Every test: unit tests (cmocka), then whole-matrix tests under mpirun.
check: deps
	@$(MAKE) --no-print-directory wmbench $(TESTS) build/tests/wmbench-plugin
	@bash tests/run_all.sh $(TESTS)

# Every #include points down the layers (tests/check_layers.py); part of check.
layers:
	@bash tests/layers.sh

# The C sources in the style of .clang-format (clang-format 14, from make deps).
SOURCES := $(wildcard */*.c */*.h tests/plugins/*.c)
format:
	clang-format -i $(SOURCES)

format-check:
	@bad=$$(for f in $(SOURCES); do clang-format "$$f" | cmp -s - "$$f" || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "not formatted (run make format):" $$bad >&2; exit 1; fi; \
	echo "format-check: $(words $(SOURCES)) files formatted"

unit: $(TESTS)
	@for t in $(TESTS); do $$t || exit 1; done

bench: wmbench $(BENCHES)
	@bash tests/bench.sh

deps:
	@bash tests/deps.sh

quick: deps
	@$(MAKE) --no-print-directory wmbench
	mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run jobs/quick.yaml; test $$? -ne 1
	./wmbench report runs/quick

# Longer runs, not part of CI; their tables go to docs/.
robustness: deps
	@$(MAKE) --no-print-directory wmbench
	mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q jobs/robustness.yaml; test $$? -ne 1
	./wmbench report runs/robustness
	python3 reports/tables.py robustness runs/robustness > docs/robustness.md

# Every decision rule on null trials (README "Decision rules"); its wall time
# goes into docs/calibration.md.
CALIBRATE := mlp lenet5 gradsigns_eps
calibrate: deps
	@$(MAKE) --no-print-directory wmbench
	start=$$(date +%s); for f in $(CALIBRATE); do \
		mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q jobs/calibrate/$$f.yaml; \
		test $$? -ne 1 || exit 1; ./wmbench report runs/calibrate-$$(echo $$f | tr _ -) || exit 1; \
		done; echo $$(( $$(date +%s) - start )) > runs/calibrate-wall-s
	python3 reports/tables.py calibrate runs/calibrate-wall-s \
		$(foreach f,$(CALIBRATE),runs/calibrate-$(subst _,-,$(f))) > docs/calibration.md

PAPERS := $(wildcard jobs/papers/*.yaml)
repro: deps
	@$(MAKE) --no-print-directory wmbench
	for f in $(PAPERS); do mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q $$f; \
		test $$? -ne 1 || exit 1; done
	python3 reports/tables.py repro $(foreach f,$(PAPERS),runs/paper-$(subst _,-,$(basename $(notdir $(f))))) \
		> docs/reproduction.md

install: wmbench
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/wmbench/jobs \
		$(DESTDIR)$(PREFIX)/share/wmbench/reports
	install -m 755 wmbench $(DESTDIR)$(PREFIX)/bin/wmbench
	install -m 644 jobs/*.yaml $(DESTDIR)$(PREFIX)/share/wmbench/jobs/
	for d in papers bench slurm calibrate; do install -d $(DESTDIR)$(PREFIX)/share/wmbench/jobs/$$d && \
		install -m 644 jobs/$$d/* $(DESTDIR)$(PREFIX)/share/wmbench/jobs/$$d/; done
	install -m 644 reports/*.gp $(DESTDIR)$(PREFIX)/share/wmbench/reports/

clean:
	rm -rf build wmbench
