# Every target creates .venv and installs the project first when needed (a fresh clone needs no other step).
PYTHON3 ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ARGS ?=
SWEEP ?=

.PHONY: help install train data report test test-slow test-slurm reproduce lint format tensorboard optuna-dashboard mlflow-ui screenshots benchmark clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED) ## Create .venv and install the project with its dev tools

train: $(INSTALLED) ## Train and test the digits MLP (extra Hydra overrides: make train ARGS="model.hidden=10")
	$(PY) src/train.py $(ARGS)

report: $(INSTALLED) ## Write a sweep's report (make report SWEEP=logs/multirun/<sweep>; default: the newest)
	$(PY) scripts/report.py $(SWEEP)

data: $(INSTALLED) ## Download (when absent) and cache every data set read from files (configs/data/) in data/ or DATA_DIR
	$(PY) scripts/prepare_data.py

test: $(INSTALLED) ## Run the test suite (without the slow, SLURM and reproduce tests), one worker per core
	$(PY) -m pytest -n auto --dist worksteal -m "not slow and not reproduce and not slurm"

test-slow: $(INSTALLED) ## Run the slow tests: launchers, DDP, Optuna, CIFAR-10, full disk, stacked and killed sweeps, MLflow (16 minutes here)
	$(PY) -m pytest -m "slow and not slurm"

test-slurm: $(INSTALLED) ## Start a one-node SLURM cluster here (scripts/slurm_cluster.sh; root), run the SLURM tests, stop it
	bash scripts/slurm_cluster.sh start
	SLURM_CONF=$$(bash scripts/slurm_cluster.sh env | cut -d= -f2) $(PY) -m pytest -m slurm; status=$$?; bash scripts/slurm_cluster.sh stop; exit $$status

reproduce: $(INSTALLED) ## Run the studies on the real data (slow tests, needs ../shared/data) and write docs/RESULTS.md
	$(PY) -m pytest -m reproduce; status=$$?; $(PY) scripts/results_table.py && exit $$status

lint: $(INSTALLED) ## Check style with ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED) ## Reformat with ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

tensorboard: $(INSTALLED) ## Serve TensorBoard on logs/ (or LOG_DIR), or on one sweep: make tensorboard SWEEP=logs/multirun/<sweep>
	$(VENV)/bin/tensorboard --logdir $(or $(SWEEP),$(or $(LOG_DIR),logs))

optuna-dashboard: $(INSTALLED) ## Serve optuna-dashboard on a search's study: make optuna-dashboard SWEEP=logs/search/<study>
	$(VENV)/bin/optuna-dashboard $(or $(SWEEP),$(or $(LOG_DIR),logs)/search/digits_mlp)/optuna.journal

mlflow-ui: $(INSTALLED) ## Serve the MLflow runs of logger=mlflow (the store logs/mlflow.db, or LOG_DIR's) on 127.0.0.1:5000
	$(VENV)/bin/mlflow ui --host 127.0.0.1 --backend-store-uri sqlite:///$(abspath $(or $(LOG_DIR),logs))/mlflow.db

screenshots: $(INSTALLED) ## The README's pictures into docs/screenshots/ (needs apt-get install chromium chromium-driver)
	$(PY) scripts/screenshots.py

benchmark: $(INSTALLED) ## Template vs hand loop (digits), our data vs torchvision's (MNIST), sequential vs joblib grid, stacked sweeps
	$(PY) scripts/benchmark_speed.py
	$(PY) scripts/benchmark_data.py
	$(PY) scripts/benchmark_launchers.py
	$(PY) scripts/benchmark_stacked.py --basic

clean: ## Remove logs and caches (keeps .venv and data/)
	rm -rf logs .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
