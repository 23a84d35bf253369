# ngx_mj: build the dynamic module against Debian's packaged nginx (nginx-dev),
# run the demo gateway, run the test suite.
#
#   make            build build/ngx_http_mj_module.so
#   make run        the demo: gateway + simulated upstream on 127.0.0.1;
#                   make run NODES=2: two gateway nodes sharing Redis
#   make test       the whole suite (installs what it needs when root)
#   make fuzz       the fuzz targets, FUZZ_TIME=60 seconds each
#   make bench      the gateway against bare proxy_pass (bench/run.sh);
#                   make bench-redis: with a store shared through Redis
#   make install    the .so and a modules-available snippet, Debian-style;
#                   also the tools mj and mjctl (build/tools, docs/tools.md),
#                   their man pages and bash completions
#   make deb        the Debian packages, in build/deb/ (scripts/deb.sh)

SHELL      := /bin/bash
NGINX_SRC  ?= /usr/share/nginx/src
NGINX      ?= /usr/sbin/nginx
BUILD      := $(CURDIR)/build
MODULE     := $(BUILD)/ngx_http_mj_module.so
DESTDIR    ?=
MODDIR     ?= /usr/lib/nginx/modules
AVAILDIR   ?= /usr/share/nginx/modules-available

SRCS := $(wildcard ngx_mj_module/*.c ngx_mj_module/*.h) config
LUA  := $(wildcard ngx_mj_module/redis/*.lua) ngx_mj_module/redis/lua.sh

.PHONY: all deps run test test-hup test-valgrind test-deb install clean bench \
        bench-bodies bench-callgrind bench-journal bench-redis deb fuzz \
        fuzz-coverage

all: $(MODULE)

deps:
	@bash scripts/deps.sh

$(BUILD)/Makefile: config
	@test -x $(NGINX_SRC)/configure || { echo "nginx-dev is missing: run 'make deps'" >&2; exit 1; }
	mkdir -p $(BUILD)
	cd $(NGINX_SRC) && . ./conf_flags && ./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR) \
	    --builddir=$(BUILD) > $(BUILD)/configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

# the Lua of the shared store, as C strings (configure makes them first;
# lua.sh leaves an unchanged header as it is)
$(BUILD)/lua.stamp: $(LUA) | $(BUILD)/Makefile
	sh ngx_mj_module/redis/lua.sh $(BUILD)/ngx_http_mj_lua.h
	touch $@

$(MODULE): $(BUILD)/Makefile $(SRCS) $(BUILD)/lua.stamp
	$(MAKE) -s -f $(BUILD)/Makefile -C $(NGINX_SRC) modules

# NODES=2: two gateway nodes sharing a redis-server (scripts/demo.sh)
NODES ?= 1

run: deps all
	@MJ_DEMO_NODES=$(NODES) bash scripts/demo.sh

test: deps all
	@bash scripts/test.sh

test-hup: deps all
	@TEST_NGINX_USE_HUP=1 bash scripts/test.sh

test-valgrind: deps all
	@TEST_NGINX_USE_VALGRIND=1 bash scripts/test.sh

bench: deps all
	@bash bench/run.sh

# the store shared through Redis: two nodes, polls and submits (bench/redis.sh)
bench-redis: deps all
	@bash bench/redis.sh

# what the journal costs a submit, and a snapshot the requests served
# meanwhile, against the build before the journal (bench/journal.sh)
bench-journal: deps all
	@bash bench/journal.sh

# libFuzzer targets of the plain-C readers, FUZZ_TIME seconds each
# (fuzz/Makefile; docs/testing.md)
FUZZ_TIME  ?= 60

fuzz: deps
	@$(MAKE) -s -C fuzz OUT=$(BUILD)/fuzz FUZZ_TIME=$(FUZZ_TIME) run

# the readers' line and branch coverage by the corpora (after make fuzz)
fuzz-coverage: deps
	@$(MAKE) -s -C fuzz OUT=$(BUILD)/fuzz coverage

bench-bodies: deps all
	@bash bench/bodies.sh

# instructions per request under callgrind, bare against the gateway
bench-callgrind: deps all
	@bash bench/callgrind.sh

install: all
	install -D -m 0644 $(MODULE) $(DESTDIR)$(MODDIR)/ngx_http_mj_module.so
	install -d $(DESTDIR)$(AVAILDIR)
	echo "load_module modules/ngx_http_mj_module.so;" \
	    > $(DESTDIR)$(AVAILDIR)/mod-http-mj.conf

# the Debian packages libnginx-mod-http-mj and mj-tools (debian/), built
# with dpkg-buildpackage and checked with lintian, in build/deb/
deb:
	@bash scripts/deb.sh

# the packages on this machine's nginx: build, lintian, install, use,
# upgrade, remove, purge (t/050-deb.t; as root; it leaves nothing behind)
test-deb: deps all
	@MJ_DEB_TEST=1 prove -v -I t/lib t/050-deb.t

clean:
	rm -rf $(BUILD) t/servroot*

# the command-line tools: build/tools/mj and build/tools/mjctl (tools/Makefile,
# docs/tools.md), built by "make" and installed by "make install" with their
# man pages (build/tools/man, "make man") and bash completions
BINDIR     ?= /usr/bin

.PHONY: tools man install-tools

all: tools

tools:
	@$(MAKE) -s -C tools OUT=$(BUILD)/tools

man:
	@$(MAKE) -s -C tools OUT=$(BUILD)/tools man

install: install-tools

install-tools: tools
	$(MAKE) -s -C tools OUT=$(BUILD)/tools DESTDIR=$(DESTDIR) \
	    BINDIR=$(BINDIR) install
