# One project-local virtual environment; `make test` and `make demo` are the README's two commands.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo clean

venv: $(STAMP)

# torch==2.13.0 is pinned here (the CPU build on these machines); setup.cfg keeps a range so a user's CUDA torch stays.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/bench run-all

clean:
	rm -rf $(VENV) build *.egg-info
