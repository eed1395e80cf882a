# Guanxi — the two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint fmt bench install install-dev browser messages clean

$(BIN)/guanxi: pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

install: $(BIN)/guanxi

$(VENV)/.dev-installed: pyproject.toml $(BIN)/guanxi
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install-dev: $(VENV)/.dev-installed

# Debian's Chromium drives the end-to-end tests (Playwright cannot download its own here),
# and Noto CJK makes Chinese render in screenshots.
browser:
	@test -x /usr/bin/chromium && fc-list | grep -qi 'noto.*cjk' || { \
	  echo "installing chromium and fonts-noto-cjk"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk) >/dev/null; }

## Set up and serve Guanxi on http://127.0.0.1:8000 (SQLite, demo data, gunicorn + worker).
run: install
	$(BIN)/guanxi run

## Lint, then the whole suite on SQLite and on PostgreSQL.
test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run >/dev/null
	DATABASE_URL=sqlite:///:memory: $(BIN)/pytest -n 2 -q
	DATABASE_URL=$(PG_URL) $(BIN)/pytest -n 2 -q

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

fmt:
	$(BIN)/ruff check --fix . ; $(BIN)/ruff format .

## Benchmarks at scale (1M customers, then 5M orders); figures go to docs/benchmarks.md.
bench: install-dev
	$(BIN)/python -m bench.run --db sqlite
	$(BIN)/python -m bench.run --db postgres
	$(BIN)/python -m bench.run_commerce --db sqlite
	$(BIN)/python -m bench.run_commerce --db postgres

messages:
	cd guanxi && ../$(BIN)/django-admin makemessages -l zh_Hans -l en --no-obsolete && ../$(BIN)/django-admin compilemessages

clean:
	rm -rf $(VENV) var
