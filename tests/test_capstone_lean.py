"""The graded DPO job: the lean loop makes TRL's updates, bit for bit, and the student's cells cannot
patch the course code it runs.

* The grader trains with ``rlhf_capstone.lean_dpo`` (no TRL), calling the student's functions once
  per step in their sandbox (``jobs.dpo_gradients``).  Its losses, its gradients and the weights
  after every step must equal those of ``train.run_dpo`` (TRL's ``DPOTrainer`` with the same loss)
  on the same batches: checked on a small profile whose epochs end in a short batch, with the
  reference loss and with a student whose bug reads the padding (so the padding must match too).
* The student's cells run in the kernel before the job: a cell that patches the course's modules
  (issue 21: five training points with no working loss) does not reach the job, which the kernel
  reads afresh from the package; a graded notebook with such a cell earns no training points.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

import rlhf_capstone  # noqa: F401  (sets the offline environment before transformers loads)
from mdl_student.capstone import train
from mdl_student.capstone.config import CPU
from mdl_student.capstone.data import make_task_data
from mdl_student.capstone.jobs import dpo_gradients
from rlhf_capstone import lean_dpo, losses

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = ROOT / "examples" / "capstone_students"
TASK = "sentiment"
# 200 pairs in batches of 16: every epoch ends with a batch of 8, and 30 steps cross two epochs.
SMALL = dataclasses.replace(CPU, name="lean-test", sft_steps=60, n_train_pairs=200, dpo_steps=30)


def student_losses(name: str):
    if name == "reference":
        return losses
    spec = importlib.util.spec_from_file_location(name, STUDENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Recorder:
    """Every optimizer step of one training run: the gradients it applied and the weights after it, by name."""

    def __init__(self, monkeypatch, module) -> None:
        self.names: dict[int, str] = {}
        self.gradients: list[dict[str, torch.Tensor]] = []
        self.weights: list[dict[str, torch.Tensor]] = []
        built = module.model_from_state

        def named(*args, **kwargs):
            model = built(*args, **kwargs)
            self.names.update({id(p): n for n, p in model.named_parameters()})
            return model

        monkeypatch.setattr(module, "model_from_state", named)
        self.handles = [
            register_optimizer_step_pre_hook(lambda opt, *_: self.gradients.append(self._take(opt, "grad"))),
            register_optimizer_step_post_hook(lambda opt, *_: self.weights.append(self._take(opt, "data"))),
        ]  # fmt: skip

    def _take(self, optimizer, attribute: str) -> dict[str, torch.Tensor]:
        return {self.names[id(p)]: getattr(p, attribute).detach().clone()
                for group in optimizer.param_groups for p in group["params"]}

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def trl_run(monkeypatch, fns, beta: float):
    with monkeypatch.context() as patch:
        recorder = Recorder(patch, train)
        try:
            result = train.run_dpo(SMALL, TASK, (fns.sequence_logprobs, fns.dpo_loss), 0, beta)
        finally:
            recorder.close()
    return [h["loss"] for h in result.history], recorder, result.policy_state


def lean_run(monkeypatch, fns, betas: list[float], batches, reference_logits):
    step_losses: list[list[float]] = []

    def step_gradients(step, batch, logits):
        labels, mask = batch.labels_and_mask()
        outputs = dpo_gradients(fns.sequence_logprobs, fns.dpo_loss, logits, reference_logits[step], labels, mask, betas)
        step_losses.append([o["loss"].item() for o in outputs])
        return [(o["loss"], o["gradient"]) for o in outputs]

    with monkeypatch.context() as patch:
        recorder = Recorder(patch, lean_dpo)
        try:
            states = lean_dpo.train_lockstep(SMALL, 0, train.sft_state(SMALL, TASK, 0), batches, betas, step_gradients)
        finally:
            recorder.close()
    return step_losses, recorder, states


@pytest.fixture(scope="module")
def small_job():
    """The batches of the small profile and the reference model's logits on them (as job_inputs builds them)."""
    from mdl_student.capstone.model import model_from_state

    batches = lean_dpo.preference_batches(make_task_data(TASK, SMALL, 0).train_pairs, SMALL, 0)
    reference = model_from_state(SMALL, train.sft_state(SMALL, TASK, 0)).eval()
    with torch.no_grad():
        logits = [reference(input_ids=b.input_ids, attention_mask=b.attention_mask, use_cache=False).logits for b in batches]
    return batches, logits


def test_the_batches_cross_epochs_and_end_them_with_a_short_batch(small_job):
    batches, _ = small_job
    assert len(batches) == SMALL.dpo_steps
    assert [len(b.input_ids) // 2 for b in batches[11:14]] == [16, 8, 16]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers 5 renames, inside TRL
@pytest.mark.parametrize("student", ["reference", "padding_not_masked"])
def test_the_lean_loop_makes_trls_updates_bit_for_bit(monkeypatch, small_job, student):
    fns = student_losses(student)
    betas = [0.1, 1.0]
    lean_losses, lean, lockstep_states = lean_run(monkeypatch, fns, betas, *small_job)
    for k, beta in enumerate(betas):
        trl_losses, trl, trl_state = trl_run(monkeypatch, fns, beta)
        assert len(trl_losses) == SMALL.dpo_steps
        assert [row[k] for row in lean_losses] == trl_losses  # every step's loss, exactly
        # The lean run trains both betas in lockstep: its optimizers step in turn, beta by beta.
        lean_gradients, lean_weights = lean.gradients[k :: len(betas)], lean.weights[k :: len(betas)]
        for step in range(SMALL.dpo_steps):
            assert trl.gradients[step].keys() == lean_gradients[step].keys()
            for name, gradient in trl.gradients[step].items():
                assert torch.equal(gradient, lean_gradients[step][name]), (beta, step, name, "gradient")
                assert torch.equal(trl.weights[step][name], lean_weights[step][name]), (beta, step, name, "weight")
        assert all(torch.equal(trl_state[n], lockstep_states[beta][n]) for n in trl_state)


def test_functions_that_stretch_the_whole_job_past_its_time_stop_it_with_a_message(monkeypatch, small_job):
    """Each step has its own time limit, and all of them together JOB_SECONDS: past it, the job stops and says so."""
    from rlhf_capstone import grading, job_inputs

    batches, logits = small_job
    inputs = job_inputs.JobInputs(train.sft_state(SMALL, TASK, 0), batches, logits, (), ())
    monkeypatch.setattr(job_inputs, "job_inputs", lambda *args: inputs)
    monkeypatch.setattr(grading, "JOB_SECONDS", 0.0)
    # The real loop's own clock (the replay's: tests/test_capstone_replay.py)
    result = grading.training_outcome(losses.sequence_logprobs, losses.dpo_loss, replay_first=False)
    verdicts, metrics = result.verdicts, result.metrics
    assert metrics == {} and not verdicts[0].passed
    assert "took longer than 0 s (stopped at step 1 of 30)" in verdicts[0].detail


# --------------------------------------------------------------------------- patches by the student's cells

PATCH_CELL = '''
# Attack (issue 21): make the graded training use a working loss, whatever dpo_loss does.
import torch.nn.functional as F_
import mdl_student.capstone.jobs as jobs_
import mdl_student.capstone.train as train_

def working_dpo_loss(pc, pr, rc, rr, beta):
    h = (pc - rc) - (pr - rr)
    return -F_.logsigmoid(beta * h).mean(), beta * (pc - rc).detach(), beta * (pr - rr).detach()

original_train_policy = train_.train_policy  # the job before issue 20 trained through this: TRL's own loss then
train_.train_policy = lambda profile, task, loss_fns, seed, beta, *a, **k: original_train_policy(profile, task, "trl", seed, beta)
if hasattr(jobs_, "dpo_gradients"):  # the job since issue 20: the working loss in place of the student's
    original_gradients = jobs_.dpo_gradients
    jobs_.dpo_gradients = lambda seq, loss, *args: original_gradients(seq, working_dpo_loss, *args)
    original_step_loss = jobs_.step_loss
    jobs_.step_loss = lambda seq, objective, *args: original_step_loss(seq, working_dpo_loss, *args)
'''


def _source(name: str) -> str:
    return (STUDENTS / f"{name}.py").read_text()


def test_a_cell_that_patches_the_course_modules_does_not_reach_the_job():
    """The job runs the student's dpo_loss, not the one a cell put into the imported module."""
    from autograder.bridge import StudentFunction, run_in_kernel
    from autograder.sandbox import Kernel
    from grading_config import PATHS, assignment

    limits = assignment("capstone").limits
    batch = lean_dpo.preference_batches(make_task_data(TASK, SMALL, 0).train_pairs[:16], dataclasses.replace(SMALL, dpo_steps=1), 0)[0]
    labels, mask = batch.labels_and_mask()
    generator = torch.Generator().manual_seed(0)
    shape = (*batch.input_ids.shape, 60)
    policy, reference = torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)
    with Kernel({"capstone.ipynb": PATHS.release / "capstone" / "capstone.ipynb"}, limits=limits) as kernel:
        for code in (_source("sign_flipped"), PATCH_CELL):
            reply = kernel.run_cell(code, 60)
            assert reply["ok"], reply
        (output,) = run_in_kernel("mdl_student.capstone.jobs:dpo_gradients", StudentFunction(kernel, "sequence_logprobs"),
                                  StudentFunction(kernel, "dpo_loss"), [policy], reference, labels, mask, [0.1], seconds=60)
    theirs = student_losses("sign_flipped")
    (expected,) = dpo_gradients(theirs.sequence_logprobs, theirs.dpo_loss, [policy], reference, labels, mask, [0.1])
    (patched,) = dpo_gradients(theirs.sequence_logprobs, losses.dpo_loss, [policy], reference, labels, mask, [0.1])
    assert not torch.allclose(expected["loss"], patched["loss"])  # the patch would have changed the loss
    assert torch.equal(output["loss"], expected["loss"]) and torch.equal(output["gradient"], expected["gradient"])


@pytest.mark.slow
def test_a_graded_notebook_that_patches_the_course_earns_no_training_points(tmp_path):
    """sign_flipped with the patch cell: before issue 20 it earned q5's five points through TRL's own loss
    (14.5/20 from the grader at 7b882a4); now it earns what sign_flipped earns."""
    from grading_config import PATHS

    notebook = nbformat.read(PATHS.examples / "capstone" / "sign_flipped.ipynb", as_version=4)
    answer = next(i for i, c in enumerate(notebook.cells) if "def dpo_loss" in "".join(c.source))
    notebook.cells[answer].source += "\n\n" + PATCH_CELL  # in an answer cell, where a student may write anything
    (tmp_path / "class").mkdir()
    nbformat.write(notebook, tmp_path / "class" / "patches_the_course.ipynb")
    # `mdl grade` in a process of its own: this one has run torch on two threads, and a fork of it would
    # inherit OpenMP's threads in a state that hangs the question children's first parallel region.
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "capstone", str(tmp_path / "class"),
                           "--out", str(tmp_path / "out"), "--jobs", "1"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    record = json.loads((tmp_path / "out" / "patches_the_course" / "record.json").read_text())
    expected = json.loads((PATHS.examples / "capstone" / "expected.json").read_text())["sign_flipped"]["scores"]
    assert record["status"] == "ok", record["messages"]
    assert record["scores"] == pytest.approx(expected)  # q5: 0, as sign_flipped without the patch
