# Two commands on a fresh Debian machine (as root, with make installed):
#   make demo   sandbox boxes -> bootstrap -> deploy -> backup + restore drill -> checks -> report
#   make test   the whole test suite against real boxes
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup host clean-sandbox mutation

demo: setup
	$(PY) -m mooring.sandbox.demo

test: setup  ## box test files run on three workers, each with its own sandbox (tests/conftest.py)
	$(PY) -m pytest -q -n 3 --dist loadfile

setup: host $(VENV)/.installed

host:
	@bin/prepare-host

$(VENV)/.installed: setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

mutation: setup  ## mutation testing of the host-free core (docs/mutation.md)
	$(PY) tools/mutation.py --fast 'mooring.checks.*' 'mooring.declare.*'

clean-sandbox: setup
	$(PY) -m mooring sandbox down
