# wmbench - build, test, benchmark, install.
# Flags come from pkg-config: Open MPI, OpenBLAS, libarchive, libyaml, zlib, libsodium, FreeType.
CC      := mpicc
PKGS    := openblas libarchive yaml-0.1 zlib libsodium freetype2
CFLAGS  ?= -O3 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wshadow -march=x86-64-v2 -fno-math-errno $(shell pkg-config --cflags $(PKGS))
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm
PREFIX  ?= /usr/local
QUICK_NP ?= 3
# The build directory and the program: make sanitize builds into build-san/
# and make fuzz into build-fuzz/, so their objects never mix with build/.
B       ?= build
BIN     ?= wmbench
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OPENBLAS_NUM_THREADS := 1

LIB_SRC := $(wildcard workers/*.c) $(wildcard schemes/*.c) $(wildcard attacks/*.c) \
           $(wildcard reports/*.c) $(filter-out harness/main.c,$(wildcard harness/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
TESTS   := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
BENCHES := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/bench_*.c))
# The report alone: reports/ and the general helpers of workers/util.c, with
# the libraries they need. test_report links only this, so a report that used
# anything of the engine, the plug-ins or the harness would not link.
REPORT_OBJ  := $(patsubst %.c,$(B)/%.o,$(wildcard reports/*.c)) $(B)/workers/util.o
REPORT_LIBS := $(shell pkg-config --libs libarchive libsodium) -lm

.PHONY: all check unit bench deps install clean repro repro-wrt robustness calibrate calibrate-wrt quick format format-check layers detect forgery search sok sok-small \
	sanitize fuzz

all: wmbench

# -MMD -MP: each object depends on the headers it includes ($(B)/*.d).
$(B)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/libwm.a: $(LIB_OBJ)
	ar rcs $@ $^

$(B)/libreport.a: $(REPORT_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(B)/harness/main.o $(B)/libwm.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Every test and benchmark links the shared fixtures of tests/testlib.{c,h}.
TEST_CFLAGS := -Iworkers -Iharness $(shell pkg-config --cflags cmocka)
$(B)/tests/testlib.o: CFLAGS += $(TEST_CFLAGS)

$(B)/tests/%: tests/%.c $(B)/tests/testlib.o $(B)/libwm.a Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $(TEST_CFLAGS) -o $@ $< $(B)/tests/testlib.o \
		$(B)/libwm.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(B)/tests/test_report: tests/test_report.c $(B)/libreport.a Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $(shell pkg-config --cflags cmocka) -o $@ $< \
		$(B)/libreport.a $(REPORT_LIBS) $(shell pkg-config --libs cmocka)

# A wmbench with a plug-in from a test file (tests/e2e_plugin.sh).
$(B)/tests/wmbench-plugin: $(B)/harness/main.o $(B)/tests/plugins/test_scale.o \
		$(B)/tests/plugins/test_flaky.o $(B)/libwm.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/plugins/%.o: tests/plugins/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

-include $(LIB_OBJ:.o=.d) $(B)/harness/main.d $(B)/tests/testlib.d $(TESTS:=.d) $(BENCHES:=.d) \
	$(B)/tests/plugins/test_scale.d $(B)/tests/plugins/test_flaky.d $(wildcard $(B)/fuzz/*.d)

# Every test: unit tests (cmocka), then whole-matrix tests under mpirun. The
# build uses every core unless make was given its own -j; tests/run_all.sh runs
# CHECK_JOBS unit test programs at once (default: the cores).
CHECK_MAKEJ = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
check: deps
	@$(MAKE) --no-print-directory $(CHECK_MAKEJ) wmbench $(TESTS) build/tests/wmbench-plugin
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

# ASan + UBSan (README "Sanitizers and fuzzing"): wmbench and the unit tests
# built with gcc into build-san/, then the unit tests and a 2-rank jobs/ci.yaml
# run (tests/sanitize.sh). Any report fails: UBSan does not recover, LSan
# ignores only Open MPI's own leaks (tests/lsan.supp, each line explained).
SAN_CFLAGS := -O2 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_TESTS  := $(patsubst build/%,build-san/%,$(TESTS))
sanitize: export ASAN_OPTIONS := detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=0
sanitize: export LSAN_OPTIONS := suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
sanitize: export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
sanitize: deps
	@CFLAGS="$(SAN_CFLAGS)" $(MAKE) --no-print-directory B=build-san BIN=build-san/wmbench \
		build-san/wmbench $(SAN_TESTS)
	@bash tests/sanitize.sh $(SAN_TESTS)

# libFuzzer targets, one per parser (tests/fuzz/fuzz_*.c), built with clang
# (OMPI_CC) and ASan + UBSan into build-fuzz/; each runs FUZZ_SECONDS from its
# seed corpus (tests/fuzz/corpus/) after replaying its regression inputs
# (tests/fuzz/regress/). tests/fuzz/run.sh prints the executions per target.
FUZZ_SECONDS ?= 10
FUZZ_CFLAGS  := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer -Wno-unknown-attributes
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,build-fuzz/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
.PRECIOUS: $(B)/tests/fuzz/fuzz.o
$(B)/fuzz/%: tests/fuzz/%.c $(B)/tests/fuzz/fuzz.o $(B)/libwm.a Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -MMD -MP -Iworkers -Iharness -o $@ $< \
		$(B)/tests/fuzz/fuzz.o $(B)/libwm.a $(LDLIBS)
fuzz: export OMPI_CC := clang
fuzz: export ASAN_OPTIONS := detect_leaks=1:halt_on_error=1
fuzz: export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
fuzz: deps
	@CFLAGS="$(FUZZ_CFLAGS)" $(MAKE) --no-print-directory B=build-fuzz $(FUZZ_BINS)
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

bench: wmbench $(BENCHES)
	@bash tests/deps.sh bench || echo "bench: without these packages some comparisons are left out"
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

# Property inference: marked against unmarked shadow models, from the weights
# alone (README "Detecting a mark from the weights").
detect: deps
	@$(MAKE) --no-print-directory wmbench
	mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q jobs/detect.yaml; test $$? -ne 1
	/usr/bin/python3 reports/detect.py runs/detect > docs/detection.md

# The weakest removing attack by search, against the full grid of the same
# strengths (README "Adaptive search"); docs/search.md.
search: deps
	@$(MAKE) --no-print-directory wmbench
	start=$$(date +%s); mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q jobs/search.yaml; \
		test $$? -ne 1 || exit 1; echo $$(( $$(date +%s) - start )) > runs/search-wall-s
	sed 's/^search:/attacks:/; s/name: search/name: search-grid/' jobs/search.yaml > runs/search-grid.yaml
	start=$$(date +%s); mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q -o runs/search-grid runs/search-grid.yaml; \
		test $$? -ne 1 || exit 1; echo $$(( $$(date +%s) - start )) > runs/search-grid-wall-s
	python3 reports/search.py runs/search --grid runs/search-grid > docs/search.md
	echo "Wall time: the search run $$(cat runs/search-wall-s) s, the grid run $$(cat runs/search-grid-wall-s) s, on this machine." >> docs/search.md

# Who can be framed: forged keys with and without registration (README "Key
# registration").
forgery: deps
	@$(MAKE) --no-print-directory wmbench
	mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q jobs/forgery.yaml; test $$? -ne 1
	python3 reports/tables.py forgery runs/forgery ./wmbench > docs/forgery.md

# The robustness SoK's verdict table (README "The SoK's table"): sok-small in
# under an hour here, sok overnight (or `wmbench slurm jobs/sok.yaml`).
define sok_run
	@$(MAKE) --no-print-directory wmbench
	start=$$(date +%s); mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q jobs/$(1).yaml; \
		test $$? -ne 1 || exit 1; echo $$(( $$(date +%s) - start )) >> runs/$(1)/wall-s-parts
	python3 reports/sok.py runs/$(1) > docs/$(1).md
	awk '{ t += $$1; p = p (NR > 1 ? " + " : "") $$1 } END { printf "Wall time of the run: %d s on this machine%s.\n", t, (NR > 1 ? " (resumed: " p " s)" : "") }' \
		runs/$(1)/wall-s-parts >> docs/$(1).md
endef
sok: deps
	$(call sok_run,sok)
sok-small: deps
	$(call sok_run,sok-small)

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

# The WRT toolbox's schemes (SCHEMES-WRT.md), calibrated in their own doc.
calibrate-wrt: deps
	@$(MAKE) --no-print-directory wmbench
	start=$$(date +%s); mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q jobs/calibrate/wrt.yaml; \
		test $$? -ne 1 || exit 1; ./wmbench report runs/calibrate-wrt || exit 1; \
		echo $$(( $$(date +%s) - start )) > runs/calibrate-wrt-wall-s
	python3 reports/tables.py calibrate runs/calibrate-wrt-wall-s runs/calibrate-wrt \
		> docs/calibration-wrt.md

PAPERS := $(wildcard jobs/papers/*.yaml)
repro: deps
	@$(MAKE) --no-print-directory wmbench
	for f in $(PAPERS); do mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q $$f; \
		test $$? -ne 1 || exit 1; done
	python3 reports/tables.py repro $(foreach f,$(PAPERS),runs/paper-$(subst _,-,$(basename $(notdir $(f))))) \
		> docs/reproduction.md

# The WRT toolbox's schemes (SCHEMES-WRT.md): their claims and tables.
PAPERS_WRT := $(wildcard jobs/papers-wrt/*.yaml)
repro-wrt: deps
	@$(MAKE) --no-print-directory wmbench
	for f in $(PAPERS_WRT); do mpirun --oversubscribe -np $(QUICK_NP) ./wmbench run -q $$f; \
		test $$? -ne 1 || exit 1; done
	python3 reports/tables.py repro $(foreach f,$(PAPERS_WRT),runs/paper-$(subst _,-,$(basename $(notdir $(f))))) \
		> docs/reproduction-wrt.md

install: wmbench
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/wmbench/jobs \
		$(DESTDIR)$(PREFIX)/share/wmbench/reports
	install -m 755 wmbench $(DESTDIR)$(PREFIX)/bin/wmbench
	install -m 644 jobs/*.yaml $(DESTDIR)$(PREFIX)/share/wmbench/jobs/
	for d in papers bench slurm calibrate; do install -d $(DESTDIR)$(PREFIX)/share/wmbench/jobs/$$d && \
		install -m 644 jobs/$$d/* $(DESTDIR)$(PREFIX)/share/wmbench/jobs/$$d/; done
	install -m 644 reports/*.gp $(DESTDIR)$(PREFIX)/share/wmbench/reports/

clean:
	rm -rf build build-san build-fuzz wmbench
