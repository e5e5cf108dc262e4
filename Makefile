# Quick start: `make demo` analyses the bundled sample capture; `make test` runs the tests.
# Both create .venv with Python 3.11 and install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench fuzz clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	@chmod 600 captures/sample-profile.toml  # profiles are personal data; git does not keep the mode
	$(BIN)/auditor analyze captures/sample-classroom.mitm \
		--app-domain classroom.example --app-name "Sample classroom app" \
		--profile captures/sample-profile.toml \
		--html reports/demo.html --json reports/demo.json --csv reports/demo-csv
	@echo
	@echo "Open the report: reports/demo.html   (machine-readable: reports/demo.json, reports/demo-csv/)"

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff mypy
	$(BIN)/ruff check auditor trackers_db addons tests benchmarks captures
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info reports/demo*

# Every benchmark, one after the other (several read ../shared; bench_pcap builds a 1.5 GB capture once).
BENCHMARKS := bench_detect bench_lookup tracker_coverage bench_sources bench_report bench_proxy bench_idle bench_load bench_pcap bench_batch
bench: $(STAMP)
	@for b in $(BENCHMARKS); do echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || exit 1; done

# Coverage-guided fuzzing of every parser (atheris), FUZZ_SECONDS per target; crashing inputs under FUZZ_OUT.
FUZZ_SECONDS ?= 60
FUZZ_OUT ?= /tmp/auditor-fuzz
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	$(BIN)/python benchmarks/fuzz.py --seconds $(FUZZ_SECONDS) --out $(FUZZ_OUT)
