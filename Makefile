# The two commands: `make run` (the main job on the embedded default) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
export STORYLINE_HOME ?= $(CURDIR)/.storyline
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv run test stop clean bench bench-quick

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel of torch must come first: any other torch spec pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/.installed

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

run: venv
	$(BIN)/storyline airflow up

stop:
	@test -x $(BIN)/storyline && $(BIN)/storyline airflow down || true

bench: venv
	$(BIN)/python -m bench.run --full

bench-quick: venv
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .storyline
