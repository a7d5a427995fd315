# vigie — plain Makefile.
#   make            build/vigie (and build/libvigie.a, libvigie_train.a, libvigie_watch.a)
#   make test       unit tests + CLI end-to-end tests
#   make SAN=1 ...  the same with ASan+UBSan, in build-san/ (SAN=thread: TSan, build-tsan/)
#   make fuzz       libFuzzer targets (clang), in build-fuzz/
#   make bench      build/vigie and run the benchmark scripts
#   make demo       the README's first command: the shipped detector on test images and a clip
#   make model      models/fire.vge again from ../shared (the default recipe, ~20 minutes)
#   make format     clang-format every C file
#   make cross-test aarch64 build (Debian's cross gcc) in build-aarch64/, unit tests under
#                   qemu-user; scripts/cross-setup.sh installs what it needs. make cross: build only

CC      ?= cc
SAN     ?= 0
BUILD   ?= $(if $(filter 1,$(SAN)),build-san,build)

# OPT: optimisation (never -ffast-math: the reference tests need IEEE arithmetic);
# CFLAGS / LDFLAGS: extra flags from the command line, e.g. make CFLAGS=-Werror
WARN    = -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wno-unused-parameter -Wvla
OPT     ?= -O3 -g
# Three archives, one per group of layers (docs/ARCHITECTURE.md), each with its own libraries:
#   libvigie.a        inference: core ops cpu model io        libjpeg libpng zlib libm pthread
#   libvigie_train.a  compress train (optimize, train, eval)  + cairo (plots) libyaml (exports)
#   libvigie_watch.a  watch                                   + FFmpeg libmosquitto
# FFmpeg and libmosquitto are plain -l flags like the rest: their Debian headers are in the
# default (multiarch) include path, also for the aarch64 cross build
INF_LIBS   = -ljpeg -lpng -lz -lm -pthread
TRAIN_LIBS = -lcairo -lyaml
WATCH_LIBS = -lavdevice -lavformat -lavcodec -lswscale -lavutil -lmosquitto
LDLIBS  = $(WATCH_LIBS) $(TRAIN_LIBS) $(INF_LIBS)
# the CLI alone: systemd readiness and watchdog of `vigie watch --config` (sd_notify; no-ops
# outside systemd)
CLI_LIBS = -lsystemd
SANFL   =
ifeq ($(SAN),1)
OPT     = -O1 -g
SANFL   = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
# make SAN=thread: ThreadSanitizer, in build-tsan/ (scripts/test.sh runs the threads test there)
ifeq ($(SAN),thread)
BUILD   = build-tsan
OPT     = -O1 -g
SANFL   = -fsanitize=thread
endif
ALL_CFLAGS  = -std=c11 $(WARN) $(OPT) $(SANFL) -D_DEFAULT_SOURCE -Iinclude -Isrc -pthread \
              -MMD -MP $(CFLAGS)
ALL_LDFLAGS = $(SANFL) $(LDFLAGS)

INF_DIRS   = core ops cpu model io
TRAIN_DIRS = compress train optimize
WATCH_DIRS = watch
dir_obj  = $(patsubst %.c,$(BUILD)/%.o,$(sort $(foreach d,$(1),$(wildcard src/$(d)/*.c))))
LIB_SRC  = $(sort $(wildcard src/*/*.c))
CLI_SRC  = $(sort $(wildcard cli/*.c))
TEST_SRC = $(sort $(wildcard tests/test_*.c)) tests/fixture.c tests/golden_net.c

LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test unit cli-test alloc-test fuzz bench format clean demo model cross cross-test \
        install uninstall
all: $(BUILD)/vigie

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# cli/ sees the public header only (vigie.h is the whole contract): no -Isrc
CLI_CFLAGS = $(filter-out -Isrc,$(ALL_CFLAGS))
$(BUILD)/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -c $< -o $@

# an archive is rebuilt whole (rm first): a source moved to another layer leaves no stale member
$(BUILD)/libvigie.a: $(call dir_obj,$(INF_DIRS))
	@rm -f $@
	$(AR) rcs $@ $^
$(BUILD)/libvigie_train.a: $(call dir_obj,$(TRAIN_DIRS))
	@rm -f $@
	$(AR) rcs $@ $^
$(BUILD)/libvigie_watch.a: $(call dir_obj,$(WATCH_DIRS))
	@rm -f $@
	$(AR) rcs $@ $^
LIBS_A = $(BUILD)/libvigie_watch.a $(BUILD)/libvigie_train.a $(BUILD)/libvigie.a

$(BUILD)/vigie: $(CLI_OBJ) $(LIBS_A)
	$(CC) $(ALL_LDFLAGS) $^ $(LDLIBS) $(CLI_LIBS) -o $@

$(BUILD)/test_vigie: $(TEST_OBJ) $(LIBS_A)
	$(CC) $(ALL_LDFLAGS) $^ $(LDLIBS) -o $@

# examples/classify.c: vigie.h and libvigie.a with the inference libraries alone (if it needed
# anything from the other layers, this link would fail)
$(BUILD)/classify: examples/classify.c $(BUILD)/libvigie.a
	$(CC) -std=c11 $(WARN) $(OPT) $(SANFL) -Iinclude $(CFLAGS) $(ALL_LDFLAGS) $^ $(INF_LIBS) -o $@

unit: $(BUILD)/test_vigie
	./$(BUILD)/test_vigie

# tests/watch_test.sh: systemd's notification socket, stood in for
$(BUILD)/notify_listen: tests/notify_listen.c
	$(CC) -std=c11 $(WARN) $(OPT) $(SANFL) $(CFLAGS) $(ALL_LDFLAGS) $< -o $@

cli-test: $(BUILD)/vigie $(BUILD)/classify $(BUILD)/notify_listen
	BUILD=$(BUILD) bash tests/layers_test.sh
	VIGIE=./$(BUILD)/vigie bash tests/cli_test.sh
	VIGIE=./$(BUILD)/vigie bash tests/train_test.sh
	VIGIE=./$(BUILD)/vigie NOTIFY_LISTEN=./$(BUILD)/notify_listen bash tests/watch_test.sh
	BUILD=$(BUILD) bash tests/install_test.sh

test: unit cli-test

# allocation failure (tests/alloc_test.sh): meaningful in the ASan build, make SAN=1 alloc-test
alloc-test: $(BUILD)/vigie
	VIGIE=./$(BUILD)/vigie bash tests/alloc_test.sh

# libFuzzer targets: build-fuzz/fuzz_<name>, run e.g. build-fuzz/fuzz_tflite -max_total_time=60
FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
fuzz: $(FUZZ_BIN)
FUZZ_CC = clang -std=c11 -O1 -g -D_DEFAULT_SOURCE -Iinclude -Isrc -pthread \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
build-fuzz/%: tests/fuzz/%.c $(LIB_SRC)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $< $(LIB_SRC) $(LDLIBS) -o $@
# the Huffman decoder needs only itself (a whole-library build takes a minute on 2 cores)
HUFF_SRC = src/core/huff.c src/core/core.c
build-fuzz/fuzz_huff: tests/fuzz/fuzz_huff.c $(HUFF_SRC)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $< $(HUFF_SRC) -lz -lm -o $@
# the detection-export parsers (label text, data.yaml): yolo.c and core.c
YOLO_SRC = src/train/yolo.c src/train/yamlx.c src/core/core.c
build-fuzz/fuzz_yolo: tests/fuzz/fuzz_yolo.c $(YOLO_SRC)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $< $(YOLO_SRC) -lyaml -lz -lm -o $@

demo: $(BUILD)/vigie
	bash scripts/demo.sh

# the shipped detector models/fire.vge, from the shared data (scripts/model.sh, ~20 min)
model: $(BUILD)/vigie
	bash scripts/model.sh

bench: $(BUILD)/vigie
	bash bench/run.sh

# aarch64 cross build: the same rules and warnings in build-aarch64/ with the cross compiler,
# -O2; the unit tests then run under qemu-user, which must show the NEON kernels exercised.
CROSS_PREFIX ?= aarch64-linux-gnu-
cross:
	$(MAKE) BUILD=build-aarch64 SAN=0 CC=$(CROSS_PREFIX)gcc AR=$(CROSS_PREFIX)ar OPT="-O2 -g" \
	  build-aarch64/test_vigie build-aarch64/vigie

cross-test: cross
	bash scripts/cross-test.sh build-aarch64/test_vigie

format:
	clang-format -i include/*.h src/*/*.[ch] cli/*.[ch] tests/*.[ch] tests/fuzz/*.c

clean:
	rm -rf build build-san build-tsan build-fuzz build-aarch64

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

# ---- make install PREFIX=... [DESTDIR=...]: the binary, the ready-made model (with its model
# card: attribution), the example configuration, the systemd unit, and /etc/vigie/config.yaml
# when there is none yet (an existing one is never overwritten)
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share/vigie
SYSCONFDIR ?= /etc
UNITDIR    ?= /etc/systemd/system
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
install: $(BUILD)/vigie
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/vigie
	install -m 755 $(BUILD)/vigie $(DESTDIR)$(BINDIR)/vigie
	install -m 644 models/fire.vge $(DESTDIR)$(DATADIR)/fire.vge
	install -m 644 models/README.md $(DESTDIR)$(DATADIR)/fire.vge.md
	install -m 644 README.md $(DESTDIR)$(DATADIR)/README.md
	install -m 644 examples/vigie.yaml $(DESTDIR)$(DATADIR)/vigie.example.yaml
	$(SUBST) packaging/vigie.service >$(DESTDIR)$(UNITDIR)/vigie.service.tmp
	chmod 644 $(DESTDIR)$(UNITDIR)/vigie.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/vigie.service.tmp $(DESTDIR)$(UNITDIR)/vigie.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/vigie/config.yaml ]; then \
	  echo "install: $(DESTDIR)$(SYSCONFDIR)/vigie/config.yaml exists: kept"; \
	else \
	  $(SUBST) packaging/config.yaml >$(DESTDIR)$(SYSCONFDIR)/vigie/config.yaml && \
	  chmod 644 $(DESTDIR)$(SYSCONFDIR)/vigie/config.yaml && \
	  echo "install: wrote $(DESTDIR)$(SYSCONFDIR)/vigie/config.yaml: edit its cameras"; \
	fi
	@echo "install: done; then: systemctl daemon-reload && systemctl enable --now vigie"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vigie $(DESTDIR)$(UNITDIR)/vigie.service
	rm -f $(DESTDIR)$(DATADIR)/fire.vge $(DESTDIR)$(DATADIR)/fire.vge.md \
	      $(DESTDIR)$(DATADIR)/README.md $(DESTDIR)$(DATADIR)/vigie.example.yaml
	-rmdir $(DESTDIR)$(DATADIR) 2>/dev/null
	@echo "uninstall: $(DESTDIR)$(SYSCONFDIR)/vigie/config.yaml kept (yours)"
