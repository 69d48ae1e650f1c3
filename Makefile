# Two commands a fresh machine needs: `make demo` and `make test`.
# Both create .venv, install torch (CPU build) first, then the project with its test
# extras, and register a Jupyter kernel spec for the venv. A second run skips the
# install unless pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.handler-kit-installed
TORCH := torch==2.13.0
KERNEL := handler-kit

# Nothing may come from the Hugging Face Hub: models load from local folders only.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup chromium programs nbstrip test test-fast lint format demo bench clean

setup: $(STAMP) chromium programs nbstrip

# The browser test drives Debian's Chromium; install it where this user can (root, apt).
chromium:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium: the browser test will say it skipped"

# Programs two templates need: espeak-ng speaks the speaker-diarization template's voices,
# Tesseract reads the document-layout template's forms (its handler runs it too).
programs:
	@(command -v espeak-ng >/dev/null && command -v tesseract >/dev/null) || [ "$$(id -u)" != 0 ] \
	  || ! command -v apt-get >/dev/null \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng tesseract-ocr >/dev/null) \
	  || echo "could not install espeak-ng and tesseract-ocr: building those two templates will say so"

# The tutorials are stored without outputs (.gitattributes: notebooks/*.ipynb filter=nbstrip):
# git reads each through handler_kit.notebook.strip, so running one in Jupyter leaves nothing
# for git to see. To strip files by hand: $(PY) -m handler_kit.notebook.strip notebooks/*.ipynb
nbstrip: $(STAMP)
	@! git rev-parse --git-dir >/dev/null 2>&1 \
	  || git config filter.nbstrip.clean "$(abspath $(PY)) -m handler_kit.notebook.strip"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test]' $(TORCH)
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))"
	touch $(STAMP)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# The whole suite: the fast lane on every core, then the slow parts one at a time (model
# builds, servers and a browser, whose time limits assume the machine to themselves). The
# slow lane runs even when the fast one failed; the status fails if either did. The 25
# slowest tests are printed: where the minutes go.
test: lint
	@status=0; $(PY) -m pytest -m "not slow" -n auto || status=$$?; \
	  $(PY) -m pytest -m slow --durations=25 && exit $$status

# All but the slow parts, on every core (pytest-xdist).
test-fast: lint
	$(PY) -m pytest -m "not slow" -n auto

demo: $(STAMP)
	$(PY) examples/demo.py

bench: $(STAMP)
	@# jurigged is a peer the reload benchmark compares with; its row is skipped without it.
	$(PY) -m pip install --quiet jurigged || echo "jurigged not installed: its row is skipped"
	$(PY) bench/reload.py
	$(PY) bench/serve.py
	$(PY) bench/onnx.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
