# The README's two commands: `make demo` and `make test`. Everything they need is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: demo test lint tshark venv clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  if [ "$(IS_ROOT)" = yes ] && command -v apt-get >/dev/null; then \
	    echo "installing python3-venv (Debian)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev; \
	  else echo "python3 -m venv is unavailable: install python3-venv" >&2; exit 2; fi; \
	fi
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# Wireshark's tshark checks that our captures decode. Installed non-interactively when we are
# root on Debian; otherwise the tshark tests skip and say why.
tshark:
	@if command -v tshark >/dev/null; then exit 0; fi; \
	if [ "$(IS_ROOT)" = yes ] && command -v apt-get >/dev/null; then \
	  echo "installing tshark (Debian)"; \
	  apt-get update -qq || true; \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null \
	    || echo "tshark could not be installed; tshark tests will skip"; \
	else echo "tshark missing and not root/apt: tshark tests will skip"; fi
	@if ! command -v ping >/dev/null && [ "$(IS_ROOT)" = yes ] && command -v apt-get >/dev/null; then \
	  echo "installing iputils-ping (Debian; the TUN test pings through a relay)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iputils-ping >/dev/null \
	    || echo "ping could not be installed; the TUN ping test will skip"; fi

lint: venv
	$(BIN)/ruff check .

# -n auto: one pytest worker per core; modules and namespace tests grouped (tests/conftest.py)
test: venv tshark lint
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

demo: venv
	$(BIN)/prose-mesh demo

clean-venv:
	rm -rf $(VENV)
