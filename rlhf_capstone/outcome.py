"""What the capstone's thresholds read of a trained policy: its held-out implicit-reward accuracy and margin.

One function, shared by the real training (``grading.training_outcome``) and the reference's trajectory
(``replay.build_trajectory``), so that a replayed outcome and a trained one are measured alike.
"""

from __future__ import annotations

from typing import Any

import torch

from . import losses


def graded_metrics(policy_state: dict[str, torch.Tensor], inputs: Any, profile: Any, beta: float) -> dict[str, float]:
    """What the thresholds read: held-out implicit-reward accuracy and margin of one trained policy.

    The same numbers as ``evaluate.evaluate_policy`` (same encoding, same forward pass, the
    instructors' ``sequence_logprobs``), without the sampled completions that no threshold reads.
    """
    from mdl_student.capstone.evaluate import encoded_pair_logprobs, preference_metrics
    from mdl_student.capstone.model import model_from_state
    from mdl_student.capstone.train import configure_torch

    configure_torch(profile, 0)
    device = profile.resolved_device()
    policy = model_from_state(profile, policy_state).to(device).eval()  # refuses NaN weights, with a message
    chosen, rejected = encoded_pair_logprobs(policy, inputs.heldout, device, losses.sequence_logprobs)
    return preference_metrics(chosen, rejected, *inputs.reference_heldout, beta)
