# Two commands on a fresh Debian machine (as root, with make installed):
#   make demo   sandbox boxes -> bootstrap -> deploy -> checks -> report
#   make test   the whole test suite against real boxes
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup host clean-sandbox

demo: setup
	$(PY) -m mooring.demo

test: setup
	$(PY) -m pytest -q

setup: host $(VENV)/.installed

host:
	@bin/prepare-host

$(VENV)/.installed: setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

clean-sandbox: setup
	$(PY) -m mooring sandbox down
