"""Make the capstone's example submissions: the release, answered with each student file's functions.

The files examples/capstone_students/*.py hold the students' three functions (one correct, the others each with one classic bug). This script puts
them into the release notebook's answer cells, answers the theory questions
(in forms that differ from the solution's), and writes
examples/submissions/capstone/<name>.ipynb. Rerun it after the release changes:

    .venv/bin/python scripts/make_capstone_examples.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "release" / "capstone" / "capstone.ipynb"
STUDENTS = ROOT / "examples" / "capstone_students"
OUT = ROOT / "examples" / "submissions" / "capstone"

THEORY = """\
bt_probability = sp.exp(r_w) / (sp.exp(r_w) + sp.exp(r_l))
optimal_policy = pi_ref * sp.exp(r / beta) * Z**-1
dpo_weight = 1 - 1 / (1 + sp.exp(r_l - r_w))
loss_at_init = -sp.log(sp.Rational(1, 2))
"""


# Students who try to take the instructors' code instead of writing their own: the grader's sandbox
# can import the student package only, so these earn the theory question's points and nothing else.
ATTACKS = {
    "import_reference": "from rlhf_capstone.losses import sequence_logprobs, dpo_loss, ipo_loss\n",
}


def answered(student_file: Path | None, code: str | None = None) -> nbformat.NotebookNode:
    nb = nbformat.read(RELEASE, as_version=4)
    code = student_file.read_text() if code is None else code
    answers = {
        "sequence_logprobs_answer": code,  # one cell defines all three functions; the others re-run it
        "dpo_loss_answer": "# defined with sequence_logprobs above",
        "ipo_loss_answer": "# defined with sequence_logprobs above",
        "theory_answer": THEORY,
    }
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def main() -> None:
    for student_file in sorted(STUDENTS.glob("*.py")):
        nbformat.write(answered(student_file), OUT / f"{student_file.stem}.ipynb")
        print(f"wrote {OUT / (student_file.stem + '.ipynb')}")
    for name, code in ATTACKS.items():
        nbformat.write(answered(None, code), OUT / f"{name}.ipynb")
        print(f"wrote {OUT / (name + '.ipynb')}")


if __name__ == "__main__":
    main()
