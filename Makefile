# Two commands: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app

.PHONY: run test lint bench clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The English catalogue is compiled from its .po here; the .mo is never committed.
CATALOGUES := $(wildcard translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)

%.mo: %.po $(VENV)/.runtime
	$(BIN)/pybabel compile -i $< -o $@

# After changing a Thai label: extract the ids and merge them into every catalogue, then
# translate what `pybabel` left empty (the tests refuse an untranslated entry).
messages: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k _p:1c,2 -k lazy_pgettext:1c,2 --no-location --sort-output -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

run: $(VENV)/.runtime $(COMPILED)
	$(BIN)/flask --app app init-db
	$(BIN)/flask --app app seed-demo --if-empty
	@echo "เปิด http://127.0.0.1:5000/myoffice/reports/ ในเบราว์เซอร์"
	$(BIN)/python app.py

# bandit: clean, or each finding justified inline with "# nosec BXXX" (pyproject.toml).
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -r . -c pyproject.toml

test: lint $(COMPILED)
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/screenshots
