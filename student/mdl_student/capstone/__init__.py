"""The RLHF capstone's public pieces: SFT, then DPO with TRL's DPOTrainer and your loss plugged in.

Read in this order: ``config.py`` (profiles), ``data.py`` (synthetic tasks), ``tokenizer.py``,
``model.py``, ``train.py`` (SFT and DPO), ``evaluate.py`` (metrics from a checkpoint), ``sweep.py``
(the beta sweep's plot), ``jobs.py`` (what the grader runs next to your code: it collects outputs,
it never judges).  The functions you write (``sequence_logprobs``, ``dpo_loss``, ``ipo_loss``) are
not here: they are the capstone notebook's questions.
"""

import os

# Nothing in the capstone may reach the network: no hub downloads, no
# telemetry pings from the trainers.  Set before transformers/trl are imported.
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Deterministic cuBLAS on a GPU (see configure_torch in train.py).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
