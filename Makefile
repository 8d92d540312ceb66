# The two commands a newcomer needs are `make demo` and `make test`; both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TOOLS := $(VENV)/tools
TOOLS_STAMP := $(TOOLS)/.installed-stamp
LOCK := requirements.lock
BENCH ?=
DEMO_DIR ?= var/clientvault
DEMO_CUSTOMERS ?= 2000

.PHONY: install demo test lint format bench lock audit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/clientvault demo --data-dir $(DEMO_DIR) --customers $(DEMO_CUSTOMERS)

# The tests find PostgreSQL (CLIENTVAULT_TEST_PG_URL, else the local server at 127.0.0.1:5432
# when it answers) and chromium (on PATH) themselves, and end with a loud line if they had to
# skip either's tests.
test: install
	CLIENTVAULT_TEST_FIND_SERVICES=1 $(BIN)/python -m pytest -n auto --dist loadfile

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install
	$(BIN)/python bench/run.py $(BENCH)

# pip-tools and pip-audit get a venv of their own (inside .venv, so `make clean` removes it):
# their dependencies stay out of the project's venv and out of the lock.
$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip pip-tools pip-audit
	touch $(TOOLS_STAMP)

# requirements.lock: everything the project and its dev extra need, resolved by pip-compile
# from pyproject.toml (not `pip freeze`, which would also pin whatever was installed by hand),
# at the versions `make install` put in .venv (given to pip-compile as the existing pins),
# with hashes. `make install` still installs from pyproject.toml; to upgrade, `make clean
# install lock`.
lock: install $(TOOLS_STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > $(LOCK).new
	CUSTOM_COMPILE_COMMAND="make lock" $(TOOLS)/bin/pip-compile --quiet --extra dev \
		--generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --no-emit-trusted-host --output-file $(LOCK).new pyproject.toml
	mv $(LOCK).new $(LOCK)

# Known vulnerabilities in the locked versions. It asks PyPI's advisory service, so it is kept
# out of `make test` and CI; --strict fails the audit when a package could not be checked.
audit: $(TOOLS_STAMP)
	$(TOOLS)/bin/pip-audit --disable-pip --require-hashes --strict --progress-spinner off \
		-r $(LOCK)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
