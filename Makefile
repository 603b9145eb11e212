# LM Course: every target is a thin wrapper; the real work lives in lm_course/ and tests/.
# `make run` and `make test` are the two commands of the README's quick start.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install git-filter run quick test lab slides release grade bench lint clean

# Create the virtual environment and install the package with its dev extra (once, and
# again whenever pyproject.toml changes).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) git-filter

## git-filter: notebooks reach git without outputs (nbstripout as a git clean filter in
## .git/config, for the patterns in .gitattributes): running or saving a notebook in JupyterLab
## leaves `git diff` clean. Cell ids are kept, and so is the short language_info the notebooks
## are stored with. Skipped outside a git checkout.
STRIP := $(abspath $(BIN))/python -m nbstripout --keep-id --extra-keys "$(addprefix \
  metadata.language_info.,codemirror_mode file_extension mimetype nbconvert_exporter \
  pygments_lexer version)"
git-filter: $(STAMP)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git config filter.nbstripout.clean '$(STRIP)' && \
	  git config filter.nbstripout.smudge cat && \
	  git config filter.nbstripout.required true && \
	  git config diff.ipynb.textconv '$(STRIP) --textconv'; fi

## run: execute every notebook in full mode; executed copies + HTML + index.html in build/
run: install
	$(BIN)/lm-course run --out build

## quick: the same in quick mode (about a minute per chapter or less)
quick: install
	$(BIN)/lm-course run --quick --out build

## test: package tests, doctests, every notebook (quick mode, nbval), the exercise pipeline
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

## lab: JupyterLab on the course for learners (also as root); JupyterLab options in ARGS, e.g.
## make lab ARGS="--port 8899 --no-browser"; instructors: make lab ARGS=--instructor
lab: install
	$(BIN)/lm-course lab $(ARGS)

## slides: reveal.js decks of the chapters in build/slides/ (with outputs after `make run`)
slides: install
	$(BIN)/lm-course slides --out build

## release: student versions of every assignment in exercises/release/
release: install
	$(BIN)/lm-course release

## grade: autograde exercises/submitted/, feedback HTML, exercises/grades.csv
grade: install
	$(BIN)/lm-course grade

## bench: the speed and quality benchmarks (prints measured ratios)
bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install
	$(BIN)/ruff check lm_course tests benchmarks

clean:
	rm -rf build exercises/release exercises/autograded exercises/feedback
