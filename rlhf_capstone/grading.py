"""Where the capstone meets the grader: student code runs in the sandbox, verdicts here.

The capstone's test cells call the two ``assert_*`` functions below.  Under
``mdl grade`` the student's functions arrive as proxies handed over by the grader, each with a
``run_job(target, *args, seconds=..., **kwargs)`` method (the one interface between the two: this
package imports nothing of ``autograder``); the heavy work then runs as a *job* inside the
student's sandboxed kernel, next to their code:

* ``collect_outputs`` (:mod:`mdl_student.capstone.jobs`): the student's functions on the fixed
  batches of the same module, values and gradients (gradients need autograd,
  so they cannot be taken across the bridge);
* ``train_checkpoints``: the reduced DPO job with the student's loss, one run
  per graded beta, each policy returned as safetensors bytes.

Only data comes back.  The comparison with ``losses.py`` and the evaluation
of the checkpoints (held-out implicit-reward accuracy and margin, the beta
sweep) happen in the grader's own process, against a reference model the
grader rebuilds itself.  This module is the instructors' (it imports the reference losses): it is
not in the student package, and the sandbox cannot import it.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import torch

from mdl_student.capstone.jobs import collect_outputs, train_checkpoints

from . import losses
from .checks import Verdict, outcome_checks

PROFILE_ENV = "MDL_CAPSTONE_PROFILE"  # set by `mdl grade --profile`; read in the grader only
JOB_SECONDS_PER_RUN = 240.0


def _is_proxy(fn: Any) -> bool:
    """A student function handed over by the grader: it stands for code in the student's kernel."""
    return isinstance(getattr(fn, "_mdl_student_name", None), str) and callable(getattr(fn, "run_job", None))


def _run(target: Callable[..., Any], *args: Any, seconds: float, **kwargs: Any) -> Any:
    """Run a job of the student package in the student's kernel when graded, or here when not.

    The grader's one interface: a student function it hands over has ``run_job(target, *args,
    seconds=..., **kwargs)``, which runs ``"module:function"`` beside it, in its kernel.
    """
    proxies = [a for a in [*args, *kwargs.values()] if _is_proxy(a)]
    if proxies:
        return proxies[0].run_job(f"{target.__module__}:{target.__name__}", *args, seconds=seconds, **kwargs)
    return target(*args, **kwargs)


def _fail(message: str) -> None:
    from mdl_student.checks import CheckFailure

    raise CheckFailure(message)


# --------------------------------------------------------------------------- function checks


def reference_outputs(which: str) -> dict[str, Any]:
    """The same collection from the reference implementation (in the grader)."""
    return collect_outputs(which, getattr(losses, which))


def _compare(name: str, actual: Any, expected: Any, tol: float) -> Verdict:
    if isinstance(actual, dict) and "error" in actual:
        return Verdict(name, False, f"raised {actual['error']}")
    if isinstance(expected, tuple):
        if not isinstance(actual, tuple) or len(actual) != len(expected):
            return Verdict(name, False, f"must return a tuple of {len(expected)} tensors")
        for k, (a, e) in enumerate(zip(actual, expected)):
            part = _compare(f"{name}[{k}]", a, e, tol)
            if not part.passed:
                return part
        return Verdict(name, True)
    if expected is None:
        return Verdict(name, actual is None, "" if actual is None else "unexpected gradient")
    if not isinstance(actual, torch.Tensor):
        return Verdict(name, False, "no gradient reached the inputs" if actual is None else f"expected a tensor, got {type(actual).__name__}")
    if tuple(actual.shape) != tuple(expected.shape):
        return Verdict(name, False, f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}")
    a, e = actual.to(torch.float64), expected.to(torch.float64)
    if not torch.isfinite(a).all():
        return Verdict(name, False, "the result holds NaN or infinite values")
    ok = bool(torch.allclose(a, e, rtol=tol, atol=tol))
    error = float((a - e).abs().max()) if a.numel() else 0.0
    return Verdict(name, ok, "" if ok else f"largest difference from the reference {error:.2g} (tolerance {tol:g})")


def function_verdicts(which: str, fn: Callable[..., Any]) -> list[Verdict]:
    """Collect the student's outputs (in their kernel when graded) and compare them here."""
    from grading_config import CAPSTONE

    if fn is None:
        return [Verdict(which, False, f"`{which}` is not defined")]
    theirs = _run(collect_outputs, which, fn, seconds=60.0)
    ours = reference_outputs(which)
    return [_compare(f"{which}/{key}", theirs.get(key, {"error": "missing"}), expected, CAPSTONE.function_tolerance)
            for key, expected in ours.items()]


def assert_matches_reference(which: str, fn: Callable[..., Any]) -> None:
    """Fail, naming each failed case, unless ``fn`` matches ``losses.<which>`` (values and gradients)."""
    failed = [v for v in function_verdicts(which, fn) if not v.passed]
    if failed:
        _fail("; ".join(f"{v.name}: {v.detail}" for v in failed))


# --------------------------------------------------------------------------- the training outcome


def _code_digest() -> str:
    """Changes when the capstone's code changes, so a cached SFT model is never stale."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    from mdl_student import capstone

    for folder in (Path(__file__).parent, Path(capstone.__file__).parent):
        for path in sorted(folder.glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def reference_state(profile: Any, task: str, seed: int) -> dict[str, torch.Tensor]:
    """The SFT reference, rebuilt by the grader (deterministic) and cached on disk under build/."""
    from safetensors.torch import load_file, save_file

    from grading_config import PATHS
    from mdl_student.capstone import train

    path = PATHS.build / "capstone-cache" / f"sft-{profile.name}-{task}-{seed}-{_code_digest()}.safetensors"
    key = (profile, task, seed)
    if key not in train._SFT_CACHE and path.exists():
        train._SFT_CACHE[key] = load_file(str(path))
    state = train.sft_state(profile, task, seed)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        os.replace(tmp, path)
    return state


def training_verdicts(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any],
                      profile_name: str | None = None, seed: int = 0) -> tuple[list[Verdict], dict[float, dict]]:
    """Train with the student's functions (sandboxed when graded), evaluate here, apply the thresholds."""
    from safetensors.torch import load

    from grading_config import CAPSTONE

    from mdl_student.capstone.config import get_profile
    from mdl_student.capstone.evaluate import evaluate_policy

    if sequence_logprobs is None or dpo_loss is None:
        return [Verdict("training", False, "sequence_logprobs and dpo_loss must both be defined")], {}
    from safetensors.torch import save

    profile = get_profile(profile_name or os.environ.get(PROFILE_ENV, "cpu"))
    task, betas = CAPSTONE.graded_task, list(CAPSTONE.graded_betas)
    reference = reference_state(profile, task, seed)  # rebuilt here, never taken from the student
    checkpoints = _run(train_checkpoints, sequence_logprobs, dpo_loss, profile.name, task, seed, betas,
                       reference=save({k: v.contiguous() for k, v in reference.items()}),
                       seconds=JOB_SECONDS_PER_RUN * len(betas))
    metrics = {}
    for beta in betas:
        payload = checkpoints.get(repr(float(beta)))
        if not isinstance(payload, bytes):
            return [Verdict("training", False, f"no checkpoint came back for beta={beta}")], {}
        metrics[beta] = evaluate_policy(load(payload), profile, task, seed, beta, reference_state=reference,
                                         sequence_logprobs=losses.sequence_logprobs).to_dict()
    from grading_config import capstone_thresholds

    return outcome_checks(task, metrics, profile.beta, capstone_thresholds(profile.name)), metrics


def assert_training_outcome(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any]) -> None:
    """Fail unless DPO with these functions reaches the thresholds of grading_config.CAPSTONE."""
    verdicts, _ = training_verdicts(sequence_logprobs, dpo_loss)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        _fail("training outcome: " + "; ".join(v.detail for v in failed))


__all__ = ["assert_matches_reference", "assert_training_outcome", "function_verdicts", "training_verdicts"]
