"""Course-wide settings for Maths for Deep Learning.

This is the one place for assignments, points policy, tolerances and sandbox
limits.  The build (`mdl build`), the grader (`mdl grade`), the answer checks
(`mdl_student.checks`) and the capstone read it; nothing else hard-codes these
values.  It is plain Python so that an instructor can read and change it
without learning a configuration system.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

# Tolerances live in the student package (students run the visible tests with the same defaults).
from mdl_student.tolerances import TOLERANCES, Tolerances  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Assignment:
    """One assignment: its id is also its folder under source/ and release/."""

    id: str
    title: str  # in English, the source language (also the LMS's column name: mdl export)
    notebook: str  # file name inside source/<id>/ and release/<id>/
    due: dt.datetime
    capstone: bool = False
    limits: "SandboxLimits | None" = None  # None: the course-wide LIMITS below
    # The title in each translated edition (language -> title), as that edition's first heading names the
    # assignment: the feedback page's heading in that language (tests/test_feedback.py keeps the two alike).
    translated_titles: dict[str, str] = field(default_factory=dict, hash=False)

    def title_in(self, lang: str) -> str:
        """The title in ``lang`` (the Spanish edition's for ``es``), else the English one."""
        return self.translated_titles.get(lang) or self.title


@dataclass(frozen=True)
class SandboxLimits:
    """Limits on the student's kernel.  Hitting one gives a status, not a crash."""

    seconds_per_cell: float = 30.0
    seconds_per_notebook: float = 180.0
    seconds_per_bridge_call: float = 20.0
    memory_mb: int = 2048
    max_processes: int = 64
    max_file_mb: int = 64
    max_output_kb: int = 256  # captured stdout/stderr per cell; the rest is cut
    max_notebook_mb: int = 20  # larger submissions are refused unread
    max_bridge_message_mb: int = 64
    # The grader's own tests of one question run in a child process with these limits, so that an
    # answer that is cheap to send and ruinous to check (a**(10**12), then a substitution) costs
    # that question, not the grader.
    seconds_per_question: float = 60.0
    checker_memory_mb: int = 1024
    # The GPU profile: NVIDIA devices in the sandbox (autograder/gpu.py), and memory bounded with
    # RLIMIT_DATA ("data") instead of RLIMIT_AS ("address-space"), which CUDA's reservations exceed.
    gpu: bool = False
    memory_limit: str = "address-space"
    # Modules the kernel server imports once, before it forks this assignment's kernels (besides numpy,
    # sympy, matplotlib and IPython), so that no kernel pays for them: the capstone's torch.
    preload: tuple[str, ...] = ()
    # What is kept per submission (record.json, results.json): the rest is cut, saying how much.
    max_messages: int = 100
    max_message_chars: int = 2000


@dataclass(frozen=True)
class Paths:
    root: Path = ROOT
    source: Path = ROOT / "source"
    release: Path = ROOT / "release"
    build: Path = ROOT / "build"
    examples: Path = ROOT / "examples" / "submissions"


ASSIGNMENTS: tuple[Assignment, ...] = (
    Assignment(
        id="a1",
        title="Applied linear algebra",
        translated_titles={"es": "Álgebra lineal aplicada"},
        notebook="a1.ipynb",
        due=dt.datetime(2027, 2, 5, 17, 0, tzinfo=dt.timezone.utc),
    ),
    Assignment(
        id="a2",
        title="Differential calculus",
        translated_titles={"es": "Cálculo diferencial"},
        notebook="a2.ipynb",
        due=dt.datetime(2027, 2, 12, 17, 0, tzinfo=dt.timezone.utc),
    ),
    Assignment(
        id="a3",
        title="Activations and losses",
        translated_titles={"es": "Funciones de activación y funciones de pérdida"},
        notebook="a3.ipynb",
        due=dt.datetime(2027, 2, 19, 17, 0, tzinfo=dt.timezone.utc),
    ),
    Assignment(
        id="a4",
        title="Optimisation",
        translated_titles={"es": "Optimización"},
        notebook="a4.ipynb",
        due=dt.datetime(2027, 2, 26, 17, 0, tzinfo=dt.timezone.utc),
    ),
    Assignment(
        id="a5",
        title="Backpropagation",
        translated_titles={"es": "Retropropagación"},
        notebook="a5.ipynb",
        due=dt.datetime(2027, 3, 5, 17, 0, tzinfo=dt.timezone.utc),
    ),
    Assignment(
        id="a6",
        title="Training simple models",
        translated_titles={"es": "Entrenamiento de modelos sencillos"},
        notebook="a6.ipynb",
        due=dt.datetime(2027, 3, 12, 17, 0, tzinfo=dt.timezone.utc),
    ),
    Assignment(
        id="a7",
        title="Attention and language-model primitives",
        translated_titles={"es": "Atención y primitivas de los modelos de lenguaje"},
        notebook="a7.ipynb",
        due=dt.datetime(2027, 3, 19, 17, 0, tzinfo=dt.timezone.utc),
    ),
    Assignment(
        id="a8",
        title="RLHF theory",
        translated_titles={"es": "Teoría de RLHF"},
        notebook="a8.ipynb",
        due=dt.datetime(2027, 3, 26, 17, 0, tzinfo=dt.timezone.utc),
    ),
    Assignment(
        id="capstone",
        title="RLHF capstone: direct preference optimisation",
        translated_titles={"es": "Proyecto final de RLHF: optimización directa de preferencias"},
        notebook="capstone.ipynb",
        due=dt.datetime(2027, 5, 14, 17, 0, tzinfo=dt.timezone.utc),
        capstone=True,
        # The graded DPO job runs inside the student's kernel during the tests: give it room.
        limits=SandboxLimits(seconds_per_question=900.0, memory_mb=4096, checker_memory_mb=4096, preload=("torch",)),
    ),
)


LIMITS = SandboxLimits()

# The course's language: the language of the messages a student and an instructor read (checks,
# feedback pages, statuses, the class report) unless a run says otherwise (`mdl grade --lang`).
# English is the source language; every notebook may carry a Spanish edition (README, "The course
# in Spanish / El curso en español").  `mdl build` writes every edition a notebook has:
# English at release/<a>/<a>.ipynb, Spanish at release/<a>/es/<a>.ipynb.
LANGUAGE = "en"
LANGUAGES = ("en", "es")


def gpu_limits(limits: SandboxLimits) -> SandboxLimits:
    """An assignment's limits for the capstone's `gpu` profile: the GPU visible in the sandbox, host
    memory bounded with RLIMIT_DATA (CUDA reserves tens of GB of address space it never uses), room
    for the larger model.  The GPU's own memory is not bounded by the sandbox (README)."""
    import dataclasses

    return dataclasses.replace(limits, gpu=True, memory_limit="data", memory_mb=16384, checker_memory_mb=16384)


PATHS = Paths()

# Where students install the student package from: the repository `mdl student-package` writes
# (student/ and the releases only; the course repository, with source/, stays private). `mdl build`
# writes it into every release in place of the token {{STUDENT_PACKAGE_URL}} (and of the older
# placeholders git+https://github.com/<org>/<course>#subdirectory=student): change it, then
# `mdl build` and commit release/.
STUDENT_PACKAGE_URL = "git+https://github.com/<org>/<course>-student#subdirectory=student"


@dataclass(frozen=True)
class LatePolicy:
    """Late work: a submission after its due date (or its student's extension) loses a share of its points.

    A day started counts as a whole day; the grace period forgives clock skew and upload delays.
    Extensions live in one CSV file, ``student,assignment,new_due`` (ISO 8601; no zone means UTC).
    """

    percent_per_day: float = 10.0
    max_percent: float = 50.0  # the most a late submission loses
    grace_minutes: float = 15.0
    extensions_file: Path = ROOT / "extensions.csv"


LATE = LatePolicy()


def assignment(assignment_id: str) -> Assignment:
    """Look up an assignment by id, with a message that lists the known ones."""
    for a in ASSIGNMENTS:
        if a.id == assignment_id:
            return a
    known = ", ".join(a.id for a in ASSIGNMENTS)
    raise KeyError(f"unknown assignment {assignment_id!r}; known assignments: {known} "
                   "(registered in grading_config.py, ASSIGNMENTS)")


@dataclass(frozen=True)
class CapstoneThresholds:
    """What the capstone's DPO job must reach, measured by the grader on held-out prompts.

    Calibrated on the `cpu` profile (sentiment, seeds 0-5): the reference loss
    reaches accuracy >= 0.88, margin >= 0.72 and a gap ratio <= 0.49; the
    broken example submissions (examples/capstone_students/) miss
    these or the function checks (rlhf_capstone/checks.py; measured with
    benchmarks/bench_capstone.py --submissions).  Not yet calibrated on `gpu`.
    """

    # The student's functions against rlhf_capstone/losses.py on fixed batches (values and gradients).
    function_tolerance: float = 1e-6
    # The task whose training outcome is graded, and its DPO runs: accuracy and margin are read at
    # the profile's beta (0.1), the drift check compares the smallest and the largest beta.
    graded_task: str = "sentiment"
    graded_betas: tuple[float, ...] = (0.1, 1.0)
    # Held-out implicit-reward accuracy: beta * log(pi / pi_ref) higher for the chosen completion.
    min_reward_accuracy: dict[str, float] = field(default_factory=lambda: {"sentiment": 0.8, "arithmetic": 0.6})
    # Held-out mean implicit-reward margin, beta * (log-ratio chosen - log-ratio rejected).
    min_reward_margin: dict[str, float] = field(default_factory=lambda: {"sentiment": 0.4, "arithmetic": 0.2})
    # Beta limits drift: the held-out log-ratio gap (margin / beta) at the largest beta may be at most
    # this fraction of the gap at the smallest.  Sentiment, betas 0.1 and 1: reference 0.38-0.49, a
    # reference that moves with the policy 0.80-0.97 (with 0.03 added: 0.30-0.37 against 0.72-0.93).
    max_gap_ratio: dict[str, float] = field(default_factory=lambda: {"sentiment": 0.6, "arithmetic": 0.8})
    # True until measured on the profile's own hardware (benchmarks/gpu_profile.py writes the numbers).
    provisional: bool = False


CAPSTONE = CapstoneThresholds()
# The `gpu` profile (larger model, more steps): PROVISIONAL.  These are the cpu profile's numbers until
# `benchmarks/gpu_profile.py` has run on a GPU; its report (benchmarks/results/gpu_profile.md) proposes
# thresholds with a stated margin, to be copied here (and `provisional` set to False).
CAPSTONE_GPU = CapstoneThresholds(provisional=True)


def capstone_thresholds(profile: str) -> CapstoneThresholds:
    """The thresholds the capstone's training outcome is graded with under a profile."""
    return CAPSTONE_GPU if profile == "gpu" else CAPSTONE
