# make [PROFILE=release|debug]: build the tools and their shell completions.
# make install [PREFIX=/usr/local] [DESTDIR=]: binaries, man pages, example
#   configurations, the boot ruleset, systemd units, bash and zsh
#   completions; /etc/pf.conf (OpenBSD's default ruleset) only if there is
#   none. Configuration stays in /etc whatever PREFIX is, where pfctl,
#   netstart and pfd look (/etc/pf.conf, /etc/hostname.*, /var/run/pf.sock).
# make uninstall: removes what install put, /etc/pf.conf excepted.
# Nothing here runs systemctl: `rcctl enable pf` does (see rcctl(8)).

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
EXAMPLESDIR ?= $(DATADIR)/examples/pf
UNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
SYSCONFDIR ?= /etc
PROFILE ?= release
CARGO ?= cargo

TOOLS = pfd pfctl carpctl pfsyncd pflogd netstart rcctl fwsync pfmetrics
UNITS = pfd.service pf.service netstart.service pfsyncd.service pflogd.service \
	pfmetrics.service pfmetrics.timer
MAN4 = carp.4 pflog.4 pfsync.4
MAN5 = pf.conf.5 hostname.if.5 fwsync.conf.5
MAN8 = pfd.8 pfctl.8 carpctl.8 pfsyncd.8 pflogd.8 netstart.8 rcctl.8 fwsync.8 pfmetrics.8
BIN = target/$(PROFILE)
GEN = target/dist
CARGOFLAGS = --locked $(if $(filter release,$(PROFILE)),--release,)
INSTALL ?= install

all: build completions units

build:
	$(CARGO) build $(CARGOFLAGS) $(addprefix -p ,$(TOOLS))

completions: build
	mkdir -p $(GEN)/bash $(GEN)/zsh
	for t in $(TOOLS); do \
		$(BIN)/$$t --completions bash >$(GEN)/bash/$$t || exit 1; \
		$(BIN)/$$t --completions zsh >$(GEN)/zsh/_$$t || exit 1; \
	done

units:
	mkdir -p $(GEN)/units
	for u in $(UNITS); do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
			systemd/$$u.in >$(GEN)/units/$$u || exit 1; \
	done

install: all
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man4 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DATADIR)/pf $(DESTDIR)$(EXAMPLESDIR)/fw1 \
		$(DESTDIR)$(EXAMPLESDIR)/fw2 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
		$(DESTDIR)$(SYSCONFDIR)
	for t in $(TOOLS); do $(INSTALL) -m 755 $(BIN)/$$t $(DESTDIR)$(SBINDIR)/$$t || exit 1; done
	for m in $(MAN4); do $(INSTALL) -m 644 man/$$m $(DESTDIR)$(MANDIR)/man4/$$m || exit 1; done
	for m in $(MAN5); do $(INSTALL) -m 644 man/$$m $(DESTDIR)$(MANDIR)/man5/$$m || exit 1; done
	for m in $(MAN8); do $(INSTALL) -m 644 man/$$m $(DESTDIR)$(MANDIR)/man8/$$m || exit 1; done
	$(INSTALL) -m 644 systemd/pf.boot.conf $(DESTDIR)$(DATADIR)/pf/boot.conf
	$(INSTALL) -m 644 etc-examples/pf.conf $(DESTDIR)$(EXAMPLESDIR)/pf.conf
	$(INSTALL) -m 644 etc-examples/fwsync.conf $(DESTDIR)$(EXAMPLESDIR)/fwsync.conf
	for d in fw1 fw2; do for f in etc-examples/$$d/*; do \
		$(INSTALL) -m 644 $$f $(DESTDIR)$(EXAMPLESDIR)/$$d/ || exit 1; done; done
	for u in $(UNITS); do $(INSTALL) -m 644 $(GEN)/units/$$u $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	for t in $(TOOLS); do \
		$(INSTALL) -m 644 $(GEN)/bash/$$t $(DESTDIR)$(BASHCOMPDIR)/$$t && \
		$(INSTALL) -m 644 $(GEN)/zsh/_$$t $(DESTDIR)$(ZSHCOMPDIR)/_$$t || exit 1; \
	done
	[ -e $(DESTDIR)$(SYSCONFDIR)/pf.conf ] || \
		$(INSTALL) -m 600 etc-examples/pf.conf $(DESTDIR)$(SYSCONFDIR)/pf.conf

uninstall:
	for t in $(TOOLS); do rm -f $(DESTDIR)$(SBINDIR)/$$t \
		$(DESTDIR)$(BASHCOMPDIR)/$$t $(DESTDIR)$(ZSHCOMPDIR)/_$$t; done
	for m in $(MAN4); do rm -f $(DESTDIR)$(MANDIR)/man4/$$m; done
	for m in $(MAN5); do rm -f $(DESTDIR)$(MANDIR)/man5/$$m; done
	for m in $(MAN8); do rm -f $(DESTDIR)$(MANDIR)/man8/$$m; done
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	rm -rf $(DESTDIR)$(DATADIR)/pf $(DESTDIR)$(EXAMPLESDIR)

# A Debian package from this tree (debhelper; see debian/rules), written
# to DEB_OUT (default: target/deb).
DEB_OUT ?= $(CURDIR)/target/deb
deb:
	mkdir -p $(DEB_OUT)
	PROFILE=$(PROFILE) DEB_OUT=$(DEB_OUT) debian/rules build
	PROFILE=$(PROFILE) DEB_OUT=$(DEB_OUT) debian/rules binary
	debian/rules clean

clean:
	$(CARGO) clean

.PHONY: all build completions units install uninstall deb clean
