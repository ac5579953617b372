"""Where the capstone meets the grader: student code runs in the sandbox, verdicts here.

The capstone's test cells call the two ``assert_*`` functions below.  Under
``mdl grade`` the student's functions arrive as bridge proxies
(:class:`autograder.bridge.StudentFunction`); the heavy work then runs as a
*job* inside the student's sandboxed kernel, next to their code:

* ``collect_outputs``: the student's functions on the fixed batches of
  :mod:`rlhf_capstone.checks`, values and gradients (gradients need autograd,
  so they cannot be taken across the bridge);
* ``train_checkpoints``: the reduced DPO job with the student's loss, one run
  per graded beta, each policy returned as safetensors bytes.

Only data comes back.  The comparison with ``losses.py`` and the evaluation
of the checkpoints (held-out implicit-reward accuracy and margin, the beta
sweep) happen in the grader's own process, against a reference model the
grader rebuilds itself.  When a student runs the same cells in JupyterLab the
functions are plain callables and everything runs locally, with the same
verdicts.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import torch

from . import losses
from .checks import Verdict, outcome_checks, preference_batch, sequence_batches

PROFILE_ENV = "MDL_CAPSTONE_PROFILE"  # set by `mdl grade --profile`; read in the grader only
JOB_SECONDS_PER_RUN = 240.0
PAIR_BETAS = (0.1, 0.5)
GRADIENT_BETA = 0.2


def _is_proxy(fn: Any) -> bool:
    return isinstance(getattr(fn, "_mdl_student_name", None), str)


def _run(target: Callable[..., Any], *args: Any, seconds: float, **kwargs: Any) -> Any:
    """Run a job of this module in the student's kernel when graded, or here when not."""
    if any(_is_proxy(a) for a in [*args, *kwargs.values()]):
        from autograder.bridge import run_in_kernel

        return run_in_kernel(f"{__name__}:{target.__name__}", *args, seconds=seconds, **kwargs)
    return target(*args, **kwargs)


def _fail(message: str) -> None:
    from mdl_student.checks import CheckFailure

    raise CheckFailure(message)


# --------------------------------------------------------------------------- function checks


def _attempt(record: dict[str, Any], key: str, compute: Callable[[], Any]) -> None:
    try:
        record[key] = compute()
    except Exception as err:  # noqa: BLE001  (student code may raise anything)
        record[key] = {"error": f"{type(err).__name__}: {err}"[:300]}


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return tuple(_detached(v) for v in value)
    return value  # anything else is reported as a wrong type by the comparison


def collect_outputs(which: str, fn: Callable[..., Any]) -> dict[str, Any]:
    """JOB (runs next to the student's code): their function on the fixed batches, with gradients."""
    out: dict[str, Any] = {}
    if which == "sequence_logprobs":
        for case, (logits, labels, mask) in sequence_batches().items():
            _attempt(out, case, lambda: _detached(fn(logits.clone(), labels.clone(), mask.clone())))
        logits, labels, mask = sequence_batches(1)["both"]

        def gradient() -> Any:
            theirs = logits.clone().requires_grad_()
            fn(theirs, labels.clone(), mask.clone()).sum().backward()
            return theirs.grad

        _attempt(out, "gradient", gradient)
        return out
    for beta in PAIR_BETAS:
        args = preference_batch()
        _attempt(out, f"beta_{beta}", lambda: _detached(fn(*(a.clone() for a in args), beta)))

    def pair_gradient() -> Any:
        theirs = [a.clone().requires_grad_(i < 2) for i, a in enumerate(preference_batch(1))]
        fn(*theirs, GRADIENT_BETA)[0].backward()
        return (theirs[0].grad, theirs[1].grad)

    _attempt(out, "gradient", pair_gradient)
    if which == "dpo_loss":
        chosen, rejected, _, _ = preference_batch(2)
        _attempt(out, "at_reference", lambda: _detached(fn(chosen, rejected, chosen.clone(), rejected.clone(), 0.3)))
    return out


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
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def reference_state(profile: Any, task: str, seed: int) -> dict[str, torch.Tensor]:
    """The SFT reference, rebuilt by the grader (deterministic) and cached on disk under build/."""
    from safetensors.torch import load_file, save_file

    from grading_config import PATHS

    from . import train

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


def train_checkpoints(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any],
                      profile_name: str, task: str, seed: int, betas: list[float],
                      reference: bytes | None = None) -> dict[str, bytes]:
    """JOB (runs next to the student's code): the reduced DPO job per beta, policies as safetensors.

    ``reference`` is the grader's SFT model (safetensors), so the kernel does not retrain it; the
    grader evaluates against its own copy, whatever happens to this one.
    """
    from safetensors.torch import load, save

    from . import train
    from .config import get_profile
    from .train import train_policy

    if reference is not None:
        train._SFT_CACHE[(get_profile(profile_name), task, seed)] = load(reference)
    checkpoints = {}
    for beta in betas:
        state = train_policy(profile_name, task, (sequence_logprobs, dpo_loss), seed, beta)
        checkpoints[repr(float(beta))] = save({k: v.detach().contiguous().cpu() for k, v in state.items()})
    return checkpoints


def training_verdicts(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any],
                      profile_name: str | None = None, seed: int = 0) -> tuple[list[Verdict], dict[float, dict]]:
    """Train with the student's functions (sandboxed when graded), evaluate here, apply the thresholds."""
    from safetensors.torch import load

    from grading_config import CAPSTONE

    from .config import get_profile
    from .evaluate import evaluate_policy

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
        metrics[beta] = evaluate_policy(load(payload), profile, task, seed, beta, reference_state=reference).to_dict()
    return outcome_checks(task, metrics, profile.beta), metrics


def assert_training_outcome(sequence_logprobs: Callable[..., Any], dpo_loss: Callable[..., Any]) -> None:
    """Fail unless DPO with these functions reaches the thresholds of grading_config.CAPSTONE."""
    verdicts, _ = training_verdicts(sequence_logprobs, dpo_loss)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        _fail("training outcome: " + "; ".join(v.detail for v in failed))


__all__ = ["assert_matches_reference", "assert_training_outcome", "function_verdicts", "training_verdicts"]
