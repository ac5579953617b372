"""Make the capstone's example submissions: the release, answered with each student's functions and theory.

Each example student is a file of three functions (`sequence_logprobs`, `dpo_loss`, `ipo_loss`) and a
set of theory answers (q4a-q4d). This script puts them into the release notebook's answer cells and
writes examples/submissions/capstone/<name>.ipynb. Rerun it after the release changes:

    .venv/bin/python scripts/make_capstone_examples.py

Where the functions come from:

- examples/capstone_students/*.py: `correct.py` (written differently from the reference; its
  notebook is `correct_alt_1`) and the broken students, one classic bug each. The benchmarks and
  tests/test_capstone_losses.py read this folder as "the correct student and the broken ones";
- examples/capstone_students/fairness/*.py: `correct_alt_2`, `near_zero_effort` and `memoriser`, the
  other students of the fairness standard (README, "Fairness"), kept apart so that the benchmarks do
  not take them for broken students;
- ATTACKS below: students who try to take the instructors' code instead of writing their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "release" / "capstone" / "capstone.ipynb"
STUDENTS = ROOT / "examples" / "capstone_students"
FAIRNESS_STUDENTS = STUDENTS / "fairness"
OUT = ROOT / "examples" / "submissions" / "capstone"

# Theory answers: the grade_id of each answer cell -> its code. (q4b, `optimal_policy`, is a numpy
# function, as in A8; the others are sympy expressions.)
# Right, in forms other than the solution's, with the notebook's symbols (real r_w, r_l): every student
# but those below answers so.
OPTIMAL_POLICY_BY_LOOP = (
    "def optimal_policy(pi_ref, rewards, beta):\n"
    "    # log-sum-exp by hand, in a loop, returned as a list\n"
    "    scores = [math.log(p) + r / beta for p, r in zip(pi_ref, rewards)]\n"
    "    top = max(scores)\n"
    "    weights = [math.exp(s - top) for s in scores]\n"
    "    return [w / sum(weights) for w in weights]\n")
THEORY_OTHER_FORMS = {
    "bt_probability_answer": "bt_probability = sp.exp(r_w) / (sp.exp(r_w) + sp.exp(r_l))\n",
    "optimal_policy_answer": OPTIMAL_POLICY_BY_LOOP,
    "dpo_weight_answer": "dpo_weight = 1 - 1 / (1 + sp.exp(r_l - r_w))\n",
    "loss_at_init_answer": "loss_at_init = -sp.log(sp.Rational(1, 2))\n",
}
# Right again, in still other forms, with every symbol declared again WITHOUT assumptions (the tests
# match symbols by name, so these are the same answers).
THEORY_DECLARED_AGAIN = {
    "bt_probability_answer": (
        "r_w, r_l = sp.symbols('r_w r_l')  # declared again, no assumptions\n"
        "bt_probability = (1 + sp.tanh((r_w - r_l) / 2)) / 2  # sigma(x) = (1 + tanh(x / 2)) / 2\n"),
    "optimal_policy_answer": (
        "def optimal_policy(pi_ref, rewards, beta):\n"
        "    # in float32, with numpy's logaddexp for log Z\n"
        "    scores = np.log(np.asarray(pi_ref, dtype=np.float32)) + np.asarray(rewards, dtype=np.float32) / np.float32(beta)\n"
        "    return np.exp(scores - np.logaddexp.reduce(scores))\n"),
    "dpo_weight_answer": "dpo_weight = sp.exp(r_l) / (sp.exp(r_w) + sp.exp(r_l))\n",
    "loss_at_init_answer": "loss_at_init = sp.log(4) / 2\n",
}
# Near-zero effort: the tie values 1/2, the reference policy itself (the input returned), and nothing at all.
THEORY_NEAR_ZERO = {
    "bt_probability_answer": "bt_probability = sp.Rational(1, 2)\n",
    "optimal_policy_answer": "def optimal_policy(pi_ref, rewards, beta):\n    return np.asarray(pi_ref, dtype=float)\n",
    "dpo_weight_answer": "dpo_weight = sp.Rational(1, 2)\n",
    "loss_at_init_answer": "loss_at_init = None\n",
}
# The memoriser: what the visible tests check and nothing else (lookups of the visible points and calls;
# for q4d, whose visible test checks the form only, a positive exact number).
THEORY_MEMORISER = {
    "bt_probability_answer": ("bt_probability = sp.Piecewise((sp.exp(1) / (sp.exp(1) + sp.exp(-1)), sp.Eq(r_w, 1)),\n"
                              "                              (sp.exp(sp.Rational(1, 2)) / (sp.exp(sp.Rational(1, 2)) + sp.exp(2)), True))\n"),
    "optimal_policy_answer": (
        "def optimal_policy(pi_ref, rewards, beta):\n"
        "    table = {0.01: [0.0, 1.0], 0.5: [math.exp(2) / (math.exp(2) + 3), 3 / (math.exp(2) + 3)]}\n"
        "    if float(beta) in table:\n"
        "        return np.array(table[float(beta)])\n"
        "    return np.asarray(pi_ref, dtype=float)  # the equal-rewards call (and anything else)\n"),
    "dpo_weight_answer": ("dpo_weight = sp.Piecewise((1 / (1 + sp.exp(2)), sp.Eq(r_w, 1)),\n"
                          "                          (1 / (1 + sp.exp(sp.Rational(-3, 2))), True))\n"),
    "loss_at_init_answer": "loss_at_init = sp.Integer(1)\n",
}
# Two classic slips: the weight sigma(r_w - r_l) (equal to the right one only at a tie) and log 2 as a
# decimal (right value, but not exact as the question asks).
THEORY_SLIPS = {
    **THEORY_OTHER_FORMS,
    "dpo_weight_answer": "dpo_weight = 1 / (1 + sp.exp(r_l - r_w))\n",
    "loss_at_init_answer": "loss_at_init = 0.6931471805599453\n",
}


@dataclass(frozen=True)
class Student:
    """One example submission: its notebook's name, its functions' code, its theory answers."""

    name: str
    functions: str
    theory: dict[str, str]


# Students whose notebook is not named after their functions' file.
NOTEBOOK_NAMES = {"correct": "correct_alt_1"}
# Students whose theory answers are not THEORY_OTHER_FORMS (by notebook name).
THEORY_BY_STUDENT = {
    "correct_alt_2": THEORY_DECLARED_AGAIN,
    "near_zero_effort": THEORY_NEAR_ZERO,
    "memoriser": THEORY_MEMORISER,
    "sign_flipped": THEORY_SLIPS,
}
# Students who try to take the instructors' code instead of writing their own: the grader's sandbox
# can import the student package only, so these earn the theory questions' points and nothing else.
ATTACKS = {
    "import_reference": "from rlhf_capstone.losses import sequence_logprobs, dpo_loss, ipo_loss\n",
}


def students() -> list[Student]:
    """Every example student, from the function files and the attacks."""
    files = sorted(STUDENTS.glob("*.py")) + sorted(FAIRNESS_STUDENTS.glob("*.py"))
    named = [(NOTEBOOK_NAMES.get(path.stem, path.stem), path.read_text()) for path in files]
    named += list(ATTACKS.items())
    return [Student(name, code, THEORY_BY_STUDENT.get(name, THEORY_OTHER_FORMS)) for name, code in named]


def answered(student: Student) -> nbformat.NotebookNode:
    """The release notebook with the student's answers in its answer cells."""
    nb = nbformat.read(RELEASE, as_version=4)
    answers = {
        "sequence_logprobs_answer": student.functions,  # one cell defines all three functions
        "dpo_loss_answer": "# defined with sequence_logprobs above",
        "ipo_loss_answer": "# defined with sequence_logprobs above",
        **student.theory,
    }
    found = set()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
            found.add(grade_id)
    missing = set(answers) - found
    if missing:
        raise SystemExit(f"the release has no answer cell {sorted(missing)}: update this script")
    return nb


def main() -> None:
    for student in students():
        path = OUT / f"{student.name}.ipynb"
        nbformat.write(answered(student), path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
