# One project-local virtual environment; `make test` and `make demo` are the README's two commands.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo clean peers

venv: $(STAMP)

# torch==2.13.0 is pinned here (the CPU build on these machines); setup.cfg keeps a range so a user's CUDA torch stays.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test,speed]"
	touch $(STAMP)

# Off-the-shelf peers run in their own environment: mediapipe 0.10.21 (the last release that bundles the Selfie
# Segmentation models) pins numpy<2 and protobuf<5, which must not reach the main one. Its scripts never import torch.
PEERS     := .venv-peers
PEERS_STAMP := $(PEERS)/.installed

peers: $(PEERS_STAMP)

$(PEERS_STAMP): peers/requirements.txt
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q --upgrade pip
	$(PEERS)/bin/python -m pip install -q -r peers/requirements.txt
	touch $(PEERS_STAMP)

lint: venv
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/bench run-all   # writes reports/smoke/

clean:
	rm -rf $(VENV) $(PEERS) build *.egg-info
