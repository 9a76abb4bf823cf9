# The two commands: `make run` (the product with demo data) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_ENV := DJANGO_SETTINGS_MODULE=config.test_settings
HTMX := static/vendor/htmx/htmx.min.js

.PHONY: run test test-steps install browser lint messages

run: install
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py run_demo $(RUN_ARGS)

# PostgreSQL and Redis: DATABASE_URL / REDIS_URL when set, else the servers on 127.0.0.1's
# standard ports when they answer, else embedded ones started for the run (with_services).
test: install browser
	DEBUG=1 $(BIN)/python manage.py with_services -- $(MAKE) --no-print-directory test-steps

test-steps:
	$(BIN)/python manage.py compile_translations --settings=config.test_settings
	$(BIN)/ruff check .
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed $(HTMX)

# htmx comes from npm (package.json pins it, package-lock.json fixes it) and is copied into
# static/vendor/, which git ignores: no CDN, no committed third-party code.
$(HTMX): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --silent
	mkdir -p $(dir $@)
	cp node_modules/htmx.org/dist/htmx.min.js $@

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used);
# Chinese pages need a CJK font to be read in screenshots.
browser:
	@test -x /usr/bin/chromium && fc-list 2>/dev/null | grep -q "Noto Sans CJK" || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk; \
	  else echo "Install Chromium and a CJK font first: sudo apt-get install chromium fonts-noto-cjk" >&2; exit 1; fi; }

# Developers: refresh the catalogues after changing user-facing strings (needs GNU gettext).
messages: install
	$(BIN)/python manage.py makemessages -l zh_Hans -l en --no-obsolete \
	  --ignore ".venv/*" --ignore "var/*" --ignore "tests/*" --ignore "staticfiles/*"
