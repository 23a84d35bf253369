# ngx_mj: build the dynamic module against Debian's packaged nginx (nginx-dev),
# run the demo gateway, run the test suite.
#
#   make            build build/ngx_http_mj_module.so
#   make run        the demo: gateway + simulated upstream on 127.0.0.1
#   make test       the whole suite (installs what it needs when root)
#   make install    the .so and a modules-available snippet, Debian-style;
#                   also the tools mj and mjctl (build/tools, docs/tools.md)

SHELL      := /bin/bash
NGINX_SRC  ?= /usr/share/nginx/src
NGINX      ?= /usr/sbin/nginx
BUILD      := $(CURDIR)/build
MODULE     := $(BUILD)/ngx_http_mj_module.so
DESTDIR    ?=
MODDIR     ?= /usr/lib/nginx/modules
AVAILDIR   ?= /usr/share/nginx/modules-available

SRCS := $(wildcard ngx_mj_module/*.c ngx_mj_module/*.h) config

.PHONY: all deps run test test-hup test-valgrind install clean bench bench-bodies

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

$(MODULE): $(BUILD)/Makefile $(SRCS)
	$(MAKE) -s -f $(BUILD)/Makefile -C $(NGINX_SRC) modules

run: deps all
	@bash scripts/demo.sh

test: deps all
	@bash scripts/test.sh

test-hup: deps all
	@TEST_NGINX_USE_HUP=1 bash scripts/test.sh

test-valgrind: deps all
	@TEST_NGINX_USE_VALGRIND=1 bash scripts/test.sh

bench: deps all
	@bash bench/run.sh

bench-bodies: deps all
	@bash bench/bodies.sh

install: all
	install -D -m 0644 $(MODULE) $(DESTDIR)$(MODDIR)/ngx_http_mj_module.so
	install -d $(DESTDIR)$(AVAILDIR)
	echo "load_module modules/ngx_http_mj_module.so;" \
	    > $(DESTDIR)$(AVAILDIR)/mod-http-mj.conf

clean:
	rm -rf $(BUILD) t/servroot*

# the command-line tools: build/tools/mj and build/tools/mjctl (tools/Makefile,
# docs/tools.md), built by "make" and installed by "make install"
BINDIR     ?= /usr/bin

.PHONY: tools install-tools

all: tools

tools:
	@$(MAKE) -s -C tools OUT=$(BUILD)/tools

install: install-tools

install-tools: tools
	$(MAKE) -s -C tools OUT=$(BUILD)/tools DESTDIR=$(DESTDIR) \
	    BINDIR=$(BINDIR) install
