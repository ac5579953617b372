"""RLHF capstone: SFT, then DPO with TRL's DPOTrainer and a pluggable loss.

Read in this order: ``config.py`` (profiles), ``data.py`` (synthetic tasks),
``tokenizer.py``, ``model.py``, ``losses.py`` (the functions students write),
``train.py`` (SFT and DPO), ``evaluate.py`` (metrics from a checkpoint),
``sweep.py`` (the beta sweep), ``checks.py`` (grading thresholds).
"""

import os

# Nothing in the capstone may reach the network: no hub downloads, no
# telemetry pings from the trainers.  Set before transformers/trl are imported.
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Deterministic cuBLAS on a GPU (see configure_torch in train.py).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
