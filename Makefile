# Two commands run the course: `make lab` (set up and open it) and `make test` (set up and test it).
# Both create .venv inside the repository on first use and reuse it afterwards.
# Instructors: `make instructor` opens the same install with nbgrader's tools (formgrader, create assignment).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup lab instructor test validate build clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; $(PYTHON) is " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt -r requirements-dev.txt
	@touch $(STAMP)

# Jupyter refuses to run as root unless told to (containers and some lab machines run as root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

# The student's Lab: JupyterLab with the settings in etc/jupyter-student (no nbgrader menu, formgrader,
# create-assignment or validate tools, no news pop-up, no update check), ahead of any JUPYTER_CONFIG_PATH.
# LAB_ROOT and LAB_ARGS are for the browser test (tests/test_browser.py), which starts the Lab this way.
STUDENT_CONFIG := $(CURDIR)/etc/jupyter-student
LAB_ROOT ?= $(CURDIR)
LAB_ARGS ?=

lab: setup
	JUPYTER_CONFIG_PATH="$(STUDENT_CONFIG)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
		$(BIN)/jupyter lab --ServerApp.root_dir="$(LAB_ROOT)" $(ALLOW_ROOT) $(LAB_ARGS)

# The instructor's Lab: the same .venv, with nbgrader's extensions as installed.
instructor: setup
	$(BIN)/jupyter lab --ServerApp.root_dir="$(LAB_ROOT)" $(ALLOW_ROOT) $(LAB_ARGS)

test: setup
	$(BIN)/python -m pytest

validate: setup
	$(BIN)/python -m autograder validate

build: setup
	$(BIN)/python -m autograder build

clean:
	rm -rf $(VENV) .pytest_cache
