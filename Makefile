# Maths for Deep Learning: two commands do everything.
#   make demo   set up, build every release, grade the example submissions, print the gradebook
#   make test   set up and run the whole test suite (what CI runs)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
MDL    := $(BIN)/mdl
export PATH := $(CURDIR)/$(BIN):$(PATH)
export HF_HUB_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1

.PHONY: i18n install sandbox browser build demo test test-fast test-pythons solutions-html clean

# torch, transformers and TRL come with the student package's capstone extra; CI's grading jobs of
# the other assignments install without them (make install STUDENT_EXTRAS=).
STUDENT_EXTRAS ?= [capstone]

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml student/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || { \
	  echo "error: this course needs Python 3.11 (found $$($(PYTHON) --version 2>&1) at $(PYTHON));"; \
	  echo "error: install python3.11 or run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e './student$(STUDENT_EXTRAS)' -e '.[test]'
	$(MAKE) --no-print-directory i18n
	touch $@

# The messages' catalogs: .po files (reviewed by people, committed) compiled to .mo (not committed).
i18n:
	$(BIN)/pybabel compile --statistics -D mdl_student -d student/mdl_student/locale
	$(BIN)/pybabel compile --statistics -D mdl -d autograder/locale

# bubblewrap gives the student's kernel a private file system and no network.
# Installed here when we may (root with apt); otherwise the grader says loudly what it cannot guarantee.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap (the sandbox) with apt-get"; \
	    (apt-get update -qq >/dev/null 2>&1 || true); \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else \
	    echo "WARNING: bubblewrap (bwrap) is not installed and cannot be installed here;"; \
	    echo "WARNING: student code will run without file-system and network isolation."; \
	  fi; }

# Chromium renders the feedback page in one test (tests/test_feedback.py); without it that test skips, saying so.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (the tests render the feedback page) with apt-get"; \
	    (apt-get update -qq >/dev/null 2>&1 || true); \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: no chromium; the feedback page's browser test will skip"; fi; }

build: install
	$(MDL) build

ASSIGNMENT_IDS = $$($(BIN)/python -c "import grading_config as g; print(' '.join(a.id for a in g.ASSIGNMENTS))")

# Build every release, grade every assignment's example class (the capstone's trains models: a few
# minutes on 2 cores), print each gradebook.
demo: install sandbox
	$(MDL) build
	@for a in $(ASSIGNMENT_IDS); do \
	  if [ -d examples/submissions/$$a ]; then \
	    echo; echo "=== $$a: grading examples/submissions/$$a ==="; \
	    $(MDL) grade $$a examples/submissions/$$a --out graded/$$a || exit 1; \
	    $(MDL) report graded/$$a || exit 1; \
	  fi; done
	@for f in canvas moodle csv; do $(MDL) export graded/a1 --format $$f || exit 1; done
	@echo; echo "=== a1, edición en español: grading examples/submissions/a1-es (mdl grade --lang es) ==="
	$(MDL) grade a1 examples/submissions/a1-es --out graded/a1-es --lang es --force
	$(MDL) report graded/a1-es --lang es
	@echo; echo "--- graded/a1-es/partial/feedback.html ---"
	@$(BIN)/python scripts/show_feedback.py graded/a1-es/partial/feedback.html 30
	sh scripts/demo_lms_roundtrip.sh $(MDL)
	@echo; echo "feedback pages: graded/<a>/<student>/feedback.html; class reports: graded/<a>/report/index.html"

test: install sandbox browser
	$(MDL) build --check
	$(MDL) validate --no-generated  # with generated students: see README "Generated students" (not all pass yet)
	$(BIN)/python -m pytest -q -m "not pythons"

# the student package on Python 3.11, 3.12 and 3.13 where those interpreters exist (a venv each: minutes)
test-pythons: install
	$(BIN)/python -m pytest -q -m pythons tests/test_student_pythons.py

# the quick loop while editing: everything but the slow marker
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

solutions-html: install
	$(BIN)/python solutions/render_html.py --out build/solutions-html

clean:
	rm -rf build graded .pytest_cache
