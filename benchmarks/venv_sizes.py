"""Installed size of the Gradescope image's venvs per assignment, before and after torch became the capstone's extra.

Sizes come from this checkout's venv: the files each distribution of a requirement closure installed
(their RECORD), so they measure what `pip install` puts in a venv built from the same wheels (pip and
setuptools themselves not counted). "before" reads pyproject.toml as of git revision BEFORE (default dcc8806,
the last commit before torch moved to the capstone extra; pass another as the first argument).

    .venv/bin/python benchmarks/venv_sizes.py [BEFORE]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
DISTS = {d.metadata["Name"].lower().replace("_", "-"): d for d in metadata.distributions()}


def closure(requirements: list[Requirement]) -> set[str]:
    """Every installed distribution the requirements pull in (markers with extras honoured)."""
    seen: set[str] = set()
    todo = [(r.name, set(r.extras)) for r in requirements]
    while todo:
        name, extras = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen or key not in DISTS:
            continue
        seen.add(key)
        for text in DISTS[key].requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((req.name, set(req.extras)))
    return seen


def mib(names: set[str]) -> float:
    total = 0
    for name in names:
        for file in DISTS[name].files or []:
            try:
                total += os.path.getsize(file.locate())
            except OSError:
                pass
    return total / 2**20


def requirements(pyproject: str, extras: tuple[str, ...] = ()) -> list[Requirement]:
    project = tomllib.loads(pyproject)["project"]
    texts = list(project["dependencies"]) + [t for e in extras for t in project["optional-dependencies"][e]]
    return [Requirement(t) for t in texts]


def main() -> None:
    before_rev = sys.argv[1] if len(sys.argv) > 1 else "dcc8806"
    before = subprocess.run(["git", "show", f"{before_rev}:pyproject.toml"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    course, student = (ROOT / "pyproject.toml").read_text(), (ROOT / "student" / "pyproject.toml").read_text()
    rows = [
        ("A1, before: one venv (. and ./student)", requirements(before) + requirements(student)),
        ("A1, after: grader venv", requirements(course) + requirements(student)),
        ("A1, after: kernel venv (./student)", requirements(student)),
        ("capstone, after: grader venv", requirements(course, ("capstone",)) + requirements(student, ("capstone",))),
        ("capstone, after: kernel venv", requirements(student, ("capstone",))),
    ]
    for label, reqs in rows:
        names = closure(reqs)
        print(f"{label:45s} {len(names):4d} distributions {mib(names):7.0f} MiB")


if __name__ == "__main__":
    main()
