# peclr-mm developer entry points. Every target works on a fresh machine: `install` builds the pinned
# OpenMMLab stack once (cached outside the clone, see tools/setup_env.sh) and makes .venv, this clone's view of it.
PY := .venv/bin/python
PYTEST_ARGS ?=
.PHONY: install test lint

# Optional layers on top of the cached stack (requirements/extras-<name>.txt, cached separately, so they never
# rebuild it): TensorBoard logging and pytest-xdist by default; `make install EXTRAS=` leaves them out,
# EXTRAS="a b" chooses others.
EXTRAS ?= tensorboard test
# pytest worker processes when the "test" layer (pytest-xdist) is installed; PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
install:
	@PECLR_MM_EXTRAS='$(EXTRAS)' bash tools/setup_env.sh

# pytest exit 5 means "no tests collected": report it instead of failing the build.
test: install
	@xdist=$$($(PY) -c 'import xdist' 2>/dev/null && [ "$(PYTEST_WORKERS)" != 0 ] && \
	  echo "-n $(PYTEST_WORKERS) --dist loadfile"); \
	$(PY) -m pytest $$xdist $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected"; rc=0; fi; exit $$rc

lint: install
	@$(PY) -m ruff check peclr_mm tools tests bench configs

# The paper's comparison end to end on synthetic FreiHAND, over seeds (preset full by default; QUICK=1 is
# PRESET=quick; PRESET=long; PRESET=gpu on one CUDA device; docs/demo.md). Pass more options with DEMO_ARGS, e.g.
# make demo QUICK=1 DEMO_ARGS="--work-dir /tmp/demo --jobs 1"; tools/demo.py --help lists them.
.PHONY: demo
demo: install
	@$(PY) tools/demo.py $(if $(QUICK),--quick,$(if $(PRESET),--preset $(PRESET),)) $(DEMO_ARGS)
