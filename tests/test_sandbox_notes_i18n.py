"""The sandbox's notes a student reads, in the run's language (issue 22): the same limits, worded in Spanish.

What a stopped check or a dead kernel leaves in a record's notes comes from `autograder/sandbox/`
(a kernel that exited, a check past its time or memory) and from the notebook runner in `grade.py`;
with MDL_LANG=es those sentences are Spanish, and in English they read as they always have.  The
limits themselves do not depend on the language: the same code is stopped the same way.
"""

from __future__ import annotations

import dataclasses

import pytest

from grading_config import LIMITS, PATHS
from autograder.grade import NotebookRunner
from autograder.sandbox import ChildStopped, run_in_child

RELEASE = PATHS.release / "a1" / "a1.ipynb"
FAST = dataclasses.replace(LIMITS, seconds_per_cell=5.0, seconds_per_bridge_call=5.0)


@pytest.mark.parametrize("lang, memory_note, time_note", [
    ("es", "su verificación necesitó más de 200 MB", "su verificación tardó más de 1 s"),
    ("en", "checking it needed more than 200 MB", "checking it took longer than 1 s"),
])
def test_a_check_stopped_at_its_limits_is_explained_in_the_run_language(monkeypatch, lang, memory_note, time_note):
    monkeypatch.setenv("MDL_LANG", lang)
    with pytest.raises(ChildStopped) as stopped:
        run_in_child(lambda: len(bytearray(10**10)), seconds=10, memory_mb=200)
    assert str(stopped.value) == memory_note
    with pytest.raises(ChildStopped) as stopped:
        run_in_child(lambda: 2 ** (10**12) > 0, seconds=1, memory_mb=4000)  # one C call: no alarm stops it
    assert str(stopped.value) == time_note


@pytest.mark.parametrize("lang, exited, not_run", [
    ("es", "el kernel terminó con el código de salida 3", "no se ejecutó: se alcanzó el límite de tiempo del cuaderno"),
    ("en", "the kernel exited with status 3", "not run: the notebook's time limit was reached"),
])
def test_a_dead_kernel_and_a_cell_not_run_are_noted_in_the_run_language(monkeypatch, lang, exited, not_run):
    monkeypatch.setenv("MDL_LANG", lang)
    with NotebookRunner({"a1.ipynb": RELEASE}, 0, FAST) as runner:
        runs = runner.run([(1, "import os\nos._exit(3)"), (2, "alive = 1")])
    assert (runs[0].ok, runs[0].kind, runs[0].error) == (False, "crashed", exited)  # not "memory": the flag decides
    assert runs[1].ok  # the kernel was restarted for the next cell, whatever the language
    with NotebookRunner({"a1.ipynb": RELEASE}, 0, dataclasses.replace(FAST, seconds_per_notebook=0.0)) as runner:
        runs = runner.run([(1, "alive = 1")])
    assert (runs[0].ok, runs[0].kind, runs[0].error) == (False, "timeout", not_run)


@pytest.mark.parametrize("lang, bubblewrap, warning", [
    ("es", "bubblewrap: sistema de archivos privado, sin red", "ADVERTENCIA: bubblewrap no está disponible"),
    ("en", "bubblewrap: private file system, no network", "WARNING: bubblewrap is not available"),
])
def test_mdl_grades_sandbox_line_says_what_the_sandbox_guarantees_in_the_run_language(monkeypatch, lang, bubblewrap,
                                                                                      warning):
    """`mdl grade` starts with a "sandbox:" line for the TA: bubblewrap's guarantees, or a loud warning without it."""
    from autograder.sandbox.isolation_probe import Isolation

    monkeypatch.setenv("MDL_LANG", lang)
    assert Isolation("bubblewrap", True, True, False).describe().startswith(bubblewrap)
    fallback = Isolation("process", False, False, True).describe()
    assert fallback.startswith(warning) and "make sandbox" in fallback
