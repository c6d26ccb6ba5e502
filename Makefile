# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv from uv.lock.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV := .uv/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test install lint format migrate messages screenshots clean

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet "uv>=0.5,<1"

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

run: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(VENV)/bin/python scripts/run_all.py

test: install
	$(VENV)/bin/python scripts/run_tests.py $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DJANGO_DEBUG=1 $(VENV)/bin/python manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(VENV)/bin/python manage.py migrate

messages: install
	DJANGO_DEBUG=1 $(VENV)/bin/python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=.uv
	DJANGO_DEBUG=1 $(VENV)/bin/python manage.py compilemessages -l zh_Hans --ignore=.venv --ignore=.uv

screenshots: install
	$(VENV)/bin/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .uv var staticfiles
