"""``mdl report DIR``: the class at a glance, and every page derived from the records refreshed.

Reads the records ``mdl grade`` (or ``mdl merge``) left in DIR and writes

* ``DIR/report/index.html``: mean and median, per-question pass rates, the hardest questions,
  statuses, late work, manual questions awaiting a grade, and links to everything else;
* ``DIR/report/totals.png`` (distribution of totals) and ``DIR/report/pass_rates.png``;
* ``DIR/report/summary.json``: the same numbers for scripts;

and rewrites what depends on the manual grades and the late policy: ``grades.csv``, each
``<student>/feedback.html`` and the manual grading pages. Run it again after grading manual
questions or editing extensions.csv.
"""

from __future__ import annotations

import html
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autograder.manual import MANUAL_GRADES, MANUAL_PAGES, write_grading_sheets
from autograder.feedback import write_feedback
from autograder.gradebook import write_gradebook
from autograder.out_folder import atomic_write_text
from autograder.safe_text import student_id
from autograder.totals import Total, class_records, totals

REPORT_DIR = "report"


@dataclass
class QuestionStats:
    grade_id: str
    points: float
    mean_score: float
    full_marks_rate: float  # share of students with all of the question's points: its pass rate
    visible_pass_rate: float  # share of graded submissions whose visible test passed
    hidden_pass_rate: float


@dataclass
class ClassSummary:
    assignment: str
    students: int
    max_score: float
    mean: float
    median: float
    mean_final: float
    median_final: float
    statuses: dict[str, int]
    late: int
    awaiting_manual: int
    questions: list[QuestionStats] = field(default_factory=list)

    @property
    def hardest(self) -> list[QuestionStats]:
        """The three questions with the lowest share of full marks (ties: lowest mean share of points)."""
        return sorted(self.questions, key=lambda q: (q.full_marks_rate, q.mean_score / q.points))[:3]


def _rate(values: list[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def question_stats(records: list[dict[str, Any]]) -> list[QuestionStats]:
    """Per question, over every row of the gradebook (a missing notebook counts as 0 points)."""
    stats = []
    for grade_id, points in records[0]["max_scores"].items():
        scores = [float(r["scores"].get(grade_id, 0.0)) for r in records]
        cases = [c for r in records for c in r.get("cases", {}).get(grade_id, [])]
        stats.append(QuestionStats(
            grade_id, float(points), round(statistics.fmean(scores), 4),
            _rate([s >= float(points) - 1e-9 for s in scores]),
            _rate([c["passed"] for c in cases if not c["hidden"]]),
            _rate([c["passed"] for c in cases if c["hidden"]]),
        ))
    return stats


def summarise(rows: list[Total]) -> ClassSummary:
    records = [t.record for t in rows]
    scores = [float(r["score"]) for r in records]
    finals = [t.final for t in rows]
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return ClassSummary(
        assignment=records[0]["assignment"], students=len(records), max_score=rows[0].max_score,
        mean=round(statistics.fmean(scores), 3), median=round(statistics.median(scores), 3),
        mean_final=round(statistics.fmean(finals), 3), median_final=round(statistics.median(finals), 3),
        statuses=dict(sorted(statuses.items(), key=lambda kv: -kv[1])),
        late=sum(t.lateness.late for t in rows), awaiting_manual=sum(bool(t.awaiting) for t in rows),
        questions=question_stats(records),
    )


# --------------------------------------------------------------------------- plots


def plot_totals(rows: list[Total], path: Path) -> None:
    """Histogram of the final totals (autograded + manual, after late penalties)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = rows[0].max_score
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    bins = min(20, max(5, int(top)))
    ax.hist([t.final for t in rows], bins=bins, range=(0, top), color="#4c6ef5", edgecolor="white")
    ax.set_xlabel(f"total (out of {top:g})")
    ax.set_ylabel("students")
    ax.set_title("Distribution of totals")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_pass_rates(questions: list[QuestionStats], path: Path) -> None:
    """Share of students with full marks on each question."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.45 * len(questions) + 1.2), dpi=100)
    names = [q.grade_id for q in questions][::-1]
    rates = [100 * q.full_marks_rate for q in questions][::-1]
    ax.barh(names, rates, color="#2b8a3e")
    ax.set_xlim(0, 100)
    ax.set_xlabel("students with full marks (%)")
    ax.set_title("Pass rate per question")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- the page


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pct(rate: float) -> str:
    return f"{100 * rate:.0f}%"


def index_html(summary: ClassSummary, rows: list[Total], out_dir: Path) -> str:
    """The report's index page; links are relative to DIR/report/."""
    q_rows = "".join(
        f"<tr><td>{_e(q.grade_id)}</td><td>{q.points:g}</td><td>{q.mean_score:.2f}</td><td>{_pct(q.full_marks_rate)}</td>"
        f"<td>{_pct(q.visible_pass_rate)}</td><td>{_pct(q.hidden_pass_rate)}</td></tr>" for q in summary.questions)
    hardest = "".join(f"<li>{_e(q.grade_id)}: {_pct(q.full_marks_rate)} with full marks, mean {q.mean_score:.2f} of {q.points:g}</li>"
                      for q in summary.hardest)
    statuses = "".join(f"<tr><td>{_e(s)}</td><td>{n}</td></tr>" for s, n in summary.statuses.items())
    students = "".join(
        f"<tr><td><a href='../{_e(student_id(t.student))}/feedback.html'>{_e(t.student)}</a></td>"
        f"<td>{t.record['score']:g}</td><td>{_e(t.record['status'])}</td><td>{t.lateness.days_late}</td>"
        f"<td>{len(t.awaiting)}</td><td>{t.final:g} / {t.max_score:g}</td>"
        f"<td><a href='../{_e(student_id(t.student))}/results.json'>results.json</a></td></tr>" for t in rows)
    files = [("../grades.csv", "grades.csv (the gradebook)"), ("summary.json", "summary.json (these numbers)")]
    if (out_dir / MANUAL_GRADES).exists():
        files.append((f"../{MANUAL_GRADES}", f"{MANUAL_GRADES} (grade the manual questions here)"))
    files += [(f"../{MANUAL_PAGES}/{p.name}", f"answers to {p.stem}") for p in sorted((out_dir / MANUAL_PAGES).glob("*.html"))]
    files += [(f"../{p.name}", p.name) for p in sorted(out_dir.glob("export-*.csv"))]
    links = "".join(f"<li><a href='{_e(href)}'>{_e(text)}</a></li>" for href, text in files)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'self'">
<title>Report: {_e(summary.assignment)}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:60em;margin:1.5em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:.5em 0}} td,th{{border-bottom:1px solid #e3e3e3;padding:.25em .7em;text-align:left}}
.cards{{display:flex;gap:1em;flex-wrap:wrap}} .card{{background:#f4f6f8;border-radius:6px;padding:.5em 1em}}
.big{{font-size:1.5em;font-weight:600}} img{{max-width:100%;border:1px solid #eee}} h2{{border-bottom:1px solid #ddd}}
</style></head><body>
<h1>Class report: {_e(summary.assignment)}</h1>
<div class="cards">
<div class="card">Students<div class="big">{summary.students}</div></div>
<div class="card">Mean autograded<div class="big">{summary.mean:g}</div></div>
<div class="card">Median autograded<div class="big">{summary.median:g}</div></div>
<div class="card">Mean total<div class="big">{summary.mean_final:g} / {summary.max_score:g}</div></div>
<div class="card">Median total<div class="big">{summary.median_final:g}</div></div>
<div class="card">Late<div class="big">{summary.late}</div></div>
<div class="card">Awaiting a manual grade<div class="big">{summary.awaiting_manual}</div></div>
</div>
<p>Totals are autograded points plus the manual grades given so far, less late penalties.</p>
<h2>Files</h2><ul>{links}</ul>
<h2>Distribution of totals</h2><img src="totals.png" alt="histogram of totals">
<h2>Questions</h2>
<p>Hardest questions:</p><ol>{hardest}</ol>
<img src="pass_rates.png" alt="pass rate per question">
<table><tr><th>question</th><th>points</th><th>mean</th><th>full marks</th><th>visible test passed*</th><th>hidden test passed*</th></tr>{q_rows}</table><p>* of the notebooks whose tests ran (not missing or unreadable ones).</p>
<h2>Statuses</h2><table><tr><th>status</th><th>submissions</th></tr>{statuses}</table>
<h2>Students</h2>
<table><tr><th>student (feedback)</th><th>autograded</th><th>status</th><th>days late</th><th>manual awaiting</th><th>total</th><th></th></tr>{students}</table>
</body></html>
"""


def write_report(out_dir: Path, nbgrader_db: Path | None = None) -> tuple[Path, ClassSummary]:
    """Refresh grades.csv, feedback and manual pages from the records; write DIR/report/. Returns index.html."""
    records = class_records(out_dir)
    rows = totals(records, out_dir, nbgrader_db)  # a bad manual_grades.csv stops here, with its line number
    write_gradebook(records, list(records[0]["max_scores"]), out_dir)
    write_grading_sheets(records, out_dir)
    for record in records:
        write_feedback(record, out_dir)
    summary = summarise(rows)
    report_dir = out_dir / REPORT_DIR
    report_dir.mkdir(parents=True, exist_ok=True)
    plot_totals(rows, report_dir / "totals.png")
    plot_pass_rates(summary.questions, report_dir / "pass_rates.png")
    data = asdict(summary) | {"hardest": [q.grade_id for q in summary.hardest]}
    atomic_write_text(report_dir / "summary.json", json.dumps(data, indent=2) + "\n")
    index = report_dir / "index.html"
    atomic_write_text(index, index_html(summary, rows, out_dir))
    return index, summary
