# LM Course: every target is a thin wrapper; the real work lives in lm_course/ and tests/.
# `make run` and `make test` are the two commands of the README's quick start.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run quick test lab slides release grade bench lint clean

# Create the virtual environment and install the package with its dev extra (once, and
# again whenever pyproject.toml changes).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: execute every notebook in full mode; executed copies + HTML + index.html in build/
run: install
	$(BIN)/lm-course run --out build

## quick: the same in quick mode (about a minute per chapter or less)
quick: install
	$(BIN)/lm-course run --quick --out build

## test: package tests, doctests, every notebook (quick mode, nbval), the exercise pipeline
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

## lab: JupyterLab on the course, with a kernel that has the package
lab: install
	$(BIN)/lm-course lab

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
