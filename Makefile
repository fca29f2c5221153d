# make train: trains a pre-activation ResNet on Fashion-MNIST (offline) and reports test accuracy.
# make test: the default (fast, offline) test tier, in a virtual environment it makes.
# make test-slow: the slow tier (full-size keras.applications parity, multi-process and memory checks).
# make bench: the benchmarks under bench/, printing tables.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
PYTEST_ARGS ?=
# The default tier runs on two pytest-xdist workers, work-stealing (about 3 min on 2 AMX Xeon cores, 5 on 2 AVX2 cores);
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2

.PHONY: venv data train test test-slow bench bench-throughput campaign campaign-status clean

venv: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package (offline).
FASHION_MNIST := /usr/share/datasets/fashion-mnist
data:
	@if [ ! -d $(FASHION_MNIST) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    (sudo apt-get install -y -q dataset-fashion-mnist || (sudo apt-get update -q && sudo apt-get install -y -q dataset-fashion-mnist)) >/dev/null; \
	  else \
	    echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist'" \
	         "or pass TRAIN_ARGS=--data_dir=DIR with the four .gz files." >&2; exit 1; \
	  fi; \
	fi

TRAIN_ARGS ?=
train: $(STAMP) data
	$(PY) train.py --model=ResNet20V2 --dataset=fashion_mnist --recipe=budget --model_dir=runs/resnet20v2_fashion_mnist $(TRAIN_ARGS)

test: $(STAMP) data
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

test-slow: $(STAMP) data
	$(PY) -m pytest -q -m slow -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/build_and_step.py

# Training and inference img/s and FLOP/s: ours vs keras.applications vs PyTorch (CPU, JAX, GPU if any).
bench-throughput: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/throughput.py --json bench/results/throughput.json

# The deep-zoo campaign (bench/deep_zoo.py): starts or resumes it in the background, at low
# priority, and prints where each run stands. Its output: runs/deep_zoo/campaign.out; each finished
# run's record goes to bench/results/deep_zoo/ (committed), so it outlives runs/.
CAMPAIGN_OUT ?= runs/deep_zoo
campaign: $(STAMP) data
	@mkdir -p $(CAMPAIGN_OUT)
	@if $(PY) -c "import sys; sys.path.insert(0, 'bench'); import deep_zoo; sys.exit(not deep_zoo.campaign_running('$(CAMPAIGN_OUT)'))"; then \
	  echo "the campaign is already running"; \
	else \
	  nohup nice -n 19 $(PY) bench/deep_zoo.py run --out $(CAMPAIGN_OUT) >> $(CAMPAIGN_OUT)/campaign.out 2>&1 & \
	  sleep 2; \
	fi
	@$(PY) bench/deep_zoo.py status --out $(CAMPAIGN_OUT)

campaign-status: $(STAMP)
	@$(PY) bench/deep_zoo.py status --out $(CAMPAIGN_OUT)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
