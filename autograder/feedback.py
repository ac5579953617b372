"""``DIR/<student>/feedback.html``: what a student reads after grading.

One self-contained page (no script, no outside resources, a Content-Security-Policy that allows
neither) with the score of each question, the visible tests' messages, the hidden tests as
passed or failed with a neutral line, the cells of the student's notebook each question is about,
manual questions, lateness, and the statuses in plain words. Everything that comes from the
student (names, error messages, answers) is untrusted and escaped. Hidden tests' own messages stay
in the instructor's record.json: the page never shows a hidden input or expected value, and never
a line number of a compiled test file.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from autograder.out_folder import FEEDBACK_NAME, atomic_write_text
from autograder.records import NEUTRAL_HIDDEN_FAILED, NEUTRAL_HIDDEN_PASSED, student_folder
from autograder.totals import totals
from autograder.i18n import N_, _
from mdl_student.i18n import current_language


STATUS_EXPLAINED = {
    "ok": N_("Your notebook ran. Cells that raised an error are listed below; the cells after them still counted."),
    "timeout": N_("A cell ran past the time limit and was stopped (or the notebook as a whole ran too long). "
               "The rest of your notebook was still graded."),
    "memory": N_("A cell used more memory than allowed and was stopped. The rest of your notebook was still graded."),
    "crashed": N_("Your code stopped the Python kernel (for example with os._exit). It was restarted and your other "
               "cells were run again, so only what the crash touched lost points."),
    "invalid-notebook": N_("The file you handed in could not be read as a Jupyter notebook (empty, not text, "
                        "not valid notebook JSON, or too large). Nothing in it could be graded."),
    "wrong-assignment": N_("The notebook belongs to another assignment: none of this assignment's cells are in it."),
    "missing": N_("No notebook was found for you."),
    "ambiguous": N_("Several notebooks were handed in and none has the assignment's name, so none was graded: "
                 "hand in one notebook."),
    "duplicate": N_("Two hand-ins map to the same student; neither was merged into the other. Your instructor will sort it out."),
    "refused-symlink": N_("A link was handed in instead of a notebook. Links are never followed: hand in the notebook itself."),
    "grader-error": N_("The grader itself failed on your notebook. This is our fault: it will be graded again."),
}
SEE_NOTES = N_("see the notes above")
HOW_POINTS_ARE_EARNED = N_(
    "The hidden tests carry the points: they try your answer on inputs you have not seen. The visible test "
    "(the one in your notebook) carries none; it is there for you to check your work before handing it in. "
    "Cells are named by the heading above them; where a note above says \"cell N\", N counts every cell of your "
    "notebook from the top, Markdown cells included.")

_OTTER_HEADER = re.compile(r"^(❌ Test case failed|Error at line \d+ in test \S+:)\s*$")


# --------------------------------------------------------------------------- the page


def visible_message(message: str) -> str:
    """otter's message without its header lines (which name a line of the compiled test file)."""
    lines = message.splitlines()
    kept = [line for line in lines if not _OTTER_HEADER.match(line.strip())]
    if len(kept) < len(lines) and kept:
        kept[0] = _("check: ") + kept[0].strip()  # the visible assert that failed, as the student's test cell has it
    return "\n".join(kept).strip("\n")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    return f"{value:g}"


def _cells_text(cells: dict[str, Any]) -> str:
    """Where the question's answer and test are in the student's notebook, as Jupyter shows it (headings)."""
    where = cells.get("where")
    if where is None:  # a record written before cells were named by their headings
        where = {part: [_("cell {n}").format(n=c) for c in cells.get(part, [])] for part in ("answers", "test")}
    parts = []
    if where.get("answers"):
        parts.append(_("your answer: ") + "; ".join(where["answers"]))
    if where.get("test"):
        parts.append(_("its test: ") + "; ".join(where["test"]))
    return "; ".join(parts) or _("no cell of your notebook defines what this question reads")


def question_title(record: dict[str, Any], grade_id: str) -> str:
    """The question as the notebook titles it ("Q1 (code, 4 points)"), else its id."""
    return str((record.get("titles") or {}).get(grade_id) or grade_id)


def _hidden_row(cases: list[dict[str, Any]]) -> str:
    """The question's hidden cases in one line: how many passed, and the neutral advice once if any failed."""
    count, passed = len(cases), sum(bool(c["passed"]) for c in cases)
    if count == 1:
        text = _(NEUTRAL_HIDDEN_PASSED) if passed else _(NEUTRAL_HIDDEN_FAILED)
    elif passed == count:
        text = _("Hidden tests: all {count} passed.").format(count=count)
    else:
        text = _("Hidden tests: {passed} of {count} passed. They try your answer on inputs you have not seen; "
                 "check that it holds in general, not only for the visible example.").format(passed=passed, count=count)
    mark = "pass" if passed == count else "fail"
    label = _("pass") if passed == count else (_("fail") if count == 1 else f"{passed}/{count}")
    return f"<li class='{mark}'><span class='tag {mark}'>{_e(label)}</span> {_e(text)}</li>"


def _case_rows(cases: list[dict[str, Any]]) -> str:
    rows = []
    for case in cases:
        if case["hidden"]:
            continue
        label = _e(_("pass") if case["passed"] else _("fail"))
        if case["passed"]:
            text = _("Visible test: passed.")
            rows.append(f"<li class='pass'><span class='tag pass'>{label}</span> {_e(text)}</li>")
        else:
            text = _("Visible test: failed.")
            rows.append(f"<li class='fail'><span class='tag fail'>{label}</span> {_e(text)}"
                        f"<pre>{_e(visible_message(case['message']))}</pre></li>")
    hidden = [case for case in cases if case["hidden"]]
    if hidden:
        rows.append(_hidden_row(hidden))
    return "<ul class='cases'>" + "".join(rows) + "</ul>"


def _heading(record: dict[str, Any], grade_id: str) -> str:
    title = question_title(record, grade_id)
    return _e(title) + ("" if title == grade_id else f" <span class='qid'>{_e(grade_id)}</span>")


def _question_section(grade_id: str, record: dict[str, Any]) -> str:
    score, points = record["scores"].get(grade_id, 0.0), record["max_scores"][grade_id]
    cases = record.get("cases", {}).get(grade_id)
    cells = record.get("cells", {}).get(grade_id, {})
    body = _case_rows(cases) if cases else \
        "<p>" + _e(_("Not graded: {status} (see above).").format(status=record["status"])) + "</p>"
    full = "full" if score >= points else ("part" if score > 0 else "none")
    about = _("About {cells}.").format(cells=_cells_text(cells))
    return (f"<section class='question'><h3>{_heading(record, grade_id)} <span class='score {full}'>{_num(score)} / {_num(points)}</span></h3>"
            f"<p class='cells'>{_e(about)}</p>{body}</section>")


def _questions(record: dict[str, Any]) -> str:
    """One section per question; a notebook none of whose tests ran gets one sentence and a plain list."""
    if record.get("cases"):
        return "".join(_question_section(q, record) for q in record["max_scores"])
    rows = "".join(f"<li>{_heading(record, q)}: 0 / {_num(p)}</li>" for q, p in record["max_scores"].items())
    explained = _(STATUS_EXPLAINED.get(record["status"], SEE_NOTES))
    return ("<p>" + _e(_("No question was graded ({status}: {explained})").format(status=record["status"], explained=explained))
            + f"</p><ul>{rows}</ul>")


def _manual_section(total: Any, record: dict[str, Any]) -> str:
    if not total.manual_max:
        return ""
    items = []
    for grade_id, points in total.manual_max.items():
        if grade_id in total.manual:
            comment = total.comments.get(grade_id, "")
            items.append(f"<li><b>{_heading(record, grade_id)}</b>: {_num(total.manual[grade_id])} / {_num(points)}"
                         + (f"<pre>{_e(comment)}</pre>" if comment else "") + "</li>")
        else:
            items.append(f"<li><b>{_heading(record, grade_id)}</b>: "
                         + _e(_("awaiting a grade (out of {points}); an instructor reads this answer.").format(points=_num(points)))
                         + "</li>")
    heading = _("Questions graded by a person")
    return f"<section><h2>{_e(heading)}</h2><ul>" + "".join(items) + "</ul></section>"


def _total(record: dict[str, Any], out_dir: Path | None) -> Any:
    try:
        return totals([record], out_dir or Path("."))[0]
    except ValueError:  # a bad manual_grades.csv or extensions.csv: the page still gets written
        return totals([record], out_dir or Path("."), manual_grades={}, extensions={})[0]


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:56em;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:.2em 0} .summary{display:flex;gap:1.2em;flex-wrap:wrap;margin:1em 0}
.box{background:#f4f6f8;border-radius:6px;padding:.6em 1em;max-width:22em} .big{font-size:1.6em;font-weight:600}
.question{border:1px solid #e3e3e3;border-radius:6px;padding:.6em 1em;margin:.7em 0}
.score{float:right;font-weight:600;padding:0 .5em;border-radius:4px} .full{background:#d8f3dc}
.part{background:#fff3bf} .none{background:#ffe0e0} .cells{color:#555;margin:.2em 0 .4em}
ul.cases{list-style:none;padding-left:0;margin:.3em 0} ul.cases li{margin:.3em 0}
.tag{display:inline-block;min-width:2.8em;text-align:center;font-size:.8em;font-weight:600;border-radius:3px;padding:0 .3em}
.tag.pass{background:#2b8a3e;color:#fff} .tag.fail{background:#c92a2a;color:#fff}
pre{white-space:pre-wrap;word-break:break-word;background:#f8f8f8;border-left:3px solid #c92a2a;padding:.4em .7em;margin:.3em 0}
span.qid{color:#888;font-weight:400;font-size:.8em} table.legend td{padding:.2em .6em;vertical-align:top} .status{font-weight:600}
"""


def feedback_html(record: dict[str, Any], out_dir: Path | None = None) -> str:
    """The whole feedback page of one graded record."""
    import grading_config

    total = _total(record, out_dir)
    try:  # the assignment's title as the edition in the page's language names it (grading_config)
        title = grading_config.assignment(record["assignment"]).title_in(current_language())
    except KeyError:
        title = record["assignment"]
    status = record["status"]
    notes = "".join(f"<li>{_e(m)}</li>" for m in record.get("messages", []))
    questions = _questions(record)
    legend = "".join(f"<tr><td class='status'>{_e(s)}</td><td>{_e(_(t))}</td></tr>" for s, t in STATUS_EXPLAINED.items())
    final_box = ""
    if total.manual_max or total.lateness.penalty_percent:
        awaiting = _("{n} question(s) awaiting a grade").format(n=len(total.awaiting)) if total.awaiting else _("all graded")
        total_word = _("Total")
        final_box = (f"<div class='box'>{_e(total_word)}<div class='big'>{_num(total.final)} / {_num(total.max_score)}</div>"
                     + _e(awaiting) + "</div>")
    words = {"title": _("Feedback: {assignment}, {student}").format(assignment=record["assignment"], student=record["student"]),
             "score": _("Autograded score"), "status": _("Status"), "notes": _("Notes from the grader"),
             "questions": _("Questions"), "statuses": _("What the statuses mean"),
             "explained": _(STATUS_EXPLAINED[status]) if status in STATUS_EXPLAINED else "",
             "how": _(HOW_POINTS_ARE_EARNED)}
    # the student and assignment escaped before they enter the (trusted) HTML of the sentence
    for_whom = _("Feedback for <b>{student}</b> (assignment {assignment})").format(
        student=_e(record["student"]), assignment=_e(record["assignment"]))
    return f"""<!doctype html>
<html lang="{current_language()}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(words["title"])}</title><style>{STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<p>{for_whom}</p>
<div class="summary">
<div class="box">{_e(words["score"])}<div class="big">{_num(record['score'])} / {_num(record['max_score'])}</div></div>
<div class="box">{_e(words["status"])}<div class="big">{_e(status)}</div>{_e(words["explained"])}</div>
{final_box}
</div>
<p>{_e(total.lateness.describe())}</p>
{('<h2>' + _e(words["notes"]) + '</h2><ul>' + notes + '</ul>') if notes else ''}
<h2>{_e(words["questions"])}</h2>
<p>{_e(words["how"])}</p>
{questions}
{_manual_section(total, record)}
<h2>{_e(words["statuses"])}</h2>
<table class="legend">{legend}</table>
</body></html>
"""


def write_feedback(record: dict[str, Any], out_dir: Path) -> Path:
    """Write the student's feedback page, DIR/<student>/feedback.html (atomically)."""
    path = student_folder(out_dir, record["student"]) / FEEDBACK_NAME
    atomic_write_text(path, feedback_html(record, out_dir))
    return path
