"""The `mdl` command: build, grade, merge, validate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grading_config
from autograder.i18n import _


def _at_least_one(text: str) -> int:
    """--jobs: a whole number of kernels, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("must be a whole number, got {text}").format(text=repr(text))) from None
    if value < 1:
        raise argparse.ArgumentTypeError(_("must be at least 1, got {value}").format(value=value))
    return value


def _assignments(ids: list[str]) -> list[grading_config.Assignment]:
    return [grading_config.assignment(i) for i in ids] if ids else list(grading_config.ASSIGNMENTS)


def _use_language(args: argparse.Namespace) -> None:
    """The run's language (--lang, else MDL_LANG, else grading_config.LANGUAGE), for the checks' messages
    here and in the sandboxed kernel, which reads MDL_LANG."""
    import os

    os.environ["MDL_LANG"] = getattr(args, "lang", None) or os.environ.get("MDL_LANG") or grading_config.LANGUAGE


def cmd_build(args: argparse.Namespace) -> int:
    from autograder.build import build

    results = build(args.assignments or None, check=args.check, lang=args.lang)
    for r in results:
        questions = len(r.manifest.questions)
        line = (_("{assignment} ({lang}): release {release} is up to date; {questions} questions, {points} points "
                  "compiled to {tests}") if args.check else
                _("{assignment} ({lang}): release {release} written; {questions} questions, {points} points "
                  "compiled to {tests}"))
        print(line.format(assignment=r.assignment, lang=r.lang, release=r.release.relative_to(grading_config.ROOT),
                          questions=questions, points=f"{r.manifest.max_score:g}", tests=f"build/{r.assignment}/tests/"))
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.batch import GradingInterrupted, Shard, grade_batch

    _use_language(args)
    if args.profile:
        import os

        os.environ["MDL_CAPSTONE_PROFILE"] = args.profile
    limits = None
    if args.profile == "gpu":  # the GPU inside the sandbox, memory bounded the way CUDA allows
        chosen = grading_config.assignment(args.assignment)
        limits = grading_config.gpu_limits(chosen.limits or grading_config.LIMITS)
        from autograder.gpu import nvidia_device_nodes

        if not nvidia_device_nodes():
            print("mdl grade: " + _("--profile gpu needs an NVIDIA GPU (no /dev/nvidia* here): grade on a GPU "
                                    "runner, or use --profile cpu"), file=sys.stderr)
            return 2
    shard = Shard.parse(args.shard) if args.shard else None
    try:
        records = grade_batch(
            grading_config.assignment(args.assignment), Path(args.path), Path(args.out),
            jobs=args.jobs, force=args.force, shard=shard, student=args.student, limits=limits,
            roster=Path(args.roster) if args.roster else None,
        )  # fmt: skip
    except GradingInterrupted as stopped:
        print(f"\nmdl grade: {stopped}", file=sys.stderr)
        return 130
    print("\n" + _("{count} submission(s); gradebook: {path}").format(count=len(records), path=Path(args.out) / "grades.csv"))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from autograder.batch import merge

    merge([Path(p) for p in args.shards], grading_config.assignment(args.assignment), Path(args.out))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from autograder.validate import validate

    reports = [validate(a, generated=not args.no_generated, jobs=args.jobs) for a in _assignments(args.assignments)]
    failed = [r for r in reports if not r.ok]
    if len(reports) > 1:
        print("\nmdl validate: " + _("{ok} of {total} assignment(s) ok").format(ok=len(reports) - len(failed), total=len(reports))
              + (_("; FAILED: {assignments}").format(assignments=", ".join(r.assignment for r in failed)) if failed else ""))
    return 0 if not failed else 1


def cmd_report(args: argparse.Namespace) -> int:
    from autograder.class_report import write_report

    _use_language(args)
    index, summary = write_report(Path(args.dir), Path(args.nbgrader_db) if args.nbgrader_db else None)
    print(_("{students} student(s), mean {mean}, median {median} of {points} autograded; report: {path}").format(
        students=summary.students, mean=f"{summary.mean:g}", median=f"{summary.median:g}",
        points=f"{sum(q.points for q in summary.questions):g}", path=index))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from autograder.export import export
    from autograder.roster import load_roster

    _use_language(args)  # the Feedback column students read in the LMS, as their feedback pages are written
    warn = lambda line: print(line, file=sys.stderr)  # noqa: E731
    path, rows = export(Path(args.dir), args.format, Path(args.out) if args.out else None,
                        Path(args.nbgrader_db) if args.nbgrader_db else None,
                        roster=load_roster(Path(args.roster) if args.roster else None),
                        canvas_assignment_id=args.canvas_assignment_id, warn=warn)
    awaiting = sum(bool(t.awaiting) for t in rows)
    if awaiting:
        print(_("warning: {count} student(s) have manual questions awaiting a grade; their totals lack those "
                "points").format(count=awaiting), file=sys.stderr)
    print(_("{count} row(s) for {format}: {path}").format(count=len(rows), format=args.format, path=path))
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from autograder.feedback_export import feedback_export
    from autograder.roster import load_roster

    _use_language(args)

    path, count = feedback_export(Path(args.dir), args.format, load_roster(Path(args.roster) if args.roster else None),
                                  warn=lambda line: print(line, file=sys.stderr))
    print(_("{count} student(s) for {format}: {path}").format(count=count, format=args.format, path=path))
    return 0


def cmd_student_package(args: argparse.Namespace) -> int:
    from autograder.student_package import student_package

    written = student_package(Path(args.out), args.url)
    url = args.url or grading_config.STUDENT_PACKAGE_URL
    print(_("wheel: {wheel}\nrepository to publish (student/, release/, README.md): {repo}\n"
            "install URL in every release: {url}").format(wheel=written["wheel"], repo=written["repo"], url=url))
    if "<org>" in url:
        print(_("warning: the install URL is still a placeholder: set STUDENT_PACKAGE_URL in grading_config.py "
                "(or pass --url)"), file=sys.stderr)
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    from autograder.gradescope import write_zip

    out = write_zip(grading_config.assignment(args.assignment), Path(args.out))
    print(_("{assignment}: Gradescope autograder written to {path} (holds hidden tests: instructors only)").format(
        assignment=args.assignment, path=out))
    return 0


def cmd_formgrader(args: argparse.Namespace) -> int:
    from autograder.intake import find_submissions
    from autograder.manual import sync_to_nbgrader
    from autograder.records import load_records

    a = grading_config.assignment(args.assignment)
    records = list(load_records(Path(args.dir)).values())
    if not records:
        raise FileNotFoundError(_("no graded submissions in {folder}").format(folder=args.dir))
    notebooks = {s.student: s.path for s in find_submissions(Path(args.submissions), a).submissions} if args.submissions else {}
    db = sync_to_nbgrader(a.id, a.notebook, records, grading_config.PATHS.source / a.id / a.notebook,
                          Path(args.course), notebooks)
    from autograder.totals import remember_nbgrader_db

    remembered = remember_nbgrader_db(Path(args.dir), db)
    print(_("{count} submission(s) written to nbgrader's gradebook {db} (remembered in {remembered}: "
            "`mdl report {dir}` and `mdl export {dir}` read its manual grades).\n"
            "Start formgrader: cd {course} && jupyter lab  (then Nbgrader > Formgrader > Manual Grading)").format(
        count=len(records), db=db, remembered=remembered, dir=args.dir, course=args.course))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mdl", description=_("Maths for Deep Learning: build releases and grade submissions."))
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help=_("write release/ with nbgrader and compile the tests into build/"))
    b.add_argument("assignments", nargs="*", help=_("assignment ids (default: all in grading_config.py)"))
    b.add_argument("--check", action="store_true", help=_("fail if the committed release/ is not what the build writes"))
    b.add_argument("--lang", choices=list(grading_config.LANGUAGES),
                   help=_("build one edition (en: release/<a>/, es: release/<a>/es/); default: every edition "
                          "the source notebook has"))
    b.set_defaults(func=cmd_build)

    g = sub.add_parser("grade", help=_("grade a folder of submissions"))
    g.add_argument("assignment")
    g.add_argument("path", help=_("submissions: a folder (nbgrader, flat, one folder per student, Canvas, Moodle), "
                                  "a .zip of one, or one notebook; see README, 'How PATH maps to students'"))
    g.add_argument("--out", required=True, help=_("output folder for grades.csv and <student>/results.json"))
    g.add_argument("--jobs", "-j", type=_at_least_one, default=None, help=_("kernels in parallel (default: one per core)"))
    g.add_argument("--force", action="store_true", help=_("regrade submissions already graded and unchanged"))
    g.add_argument("--shard", help=_("grade only shard i of n (i/n), for CI matrices"))
    g.add_argument("--profile", choices=["cpu", "gpu"], help=_("capstone training profile (default: cpu)"))
    g.add_argument("--student", help=_("regrade only this student (its id in grades.csv); every other row is kept"))
    g.add_argument("--roster", help=_("the course roster (login,name,email,canvas_id,...; default: roster.csv beside "
                                      "grading_config.py, if any): ids by login, a missing row per non-submitter"))
    g.add_argument("--lang", choices=list(grading_config.LANGUAGES),
                   help=_("language of the checks' messages (default: MDL_LANG, else grading_config.LANGUAGE); "
                          "with --force to regrade submissions graded in another language"))
    g.set_defaults(func=cmd_grade)

    m = sub.add_parser("merge", help=_("join shard outputs into one gradebook"))
    m.add_argument("assignment")
    m.add_argument("shards", nargs="+", help=_("the shards' --out folders"))
    m.add_argument("--out", required=True)
    m.set_defaults(func=cmd_merge)

    r = sub.add_parser("report", help=_("class report (DIR/report/index.html); refresh grades.csv and feedback pages"))
    r.add_argument("dir", help=_("an `mdl grade --out` folder"))
    r.add_argument("--nbgrader-db", help=_("also read manual grades from nbgrader's gradebook.db (see mdl formgrader)"))
    r.add_argument("--lang", choices=list(grading_config.LANGUAGES),
                   help=_("language of the feedback pages (default: MDL_LANG, else grading_config.LANGUAGE)"))
    r.set_defaults(func=cmd_report)

    e = sub.add_parser("export", help=_("totals in the columns an LMS imports (Canvas, Moodle) or a plain CSV"))
    e.add_argument("dir", help=_("an `mdl grade --out` folder"))
    e.add_argument("--format", required=True, choices=["canvas", "moodle", "moodle-worksheet", "csv"],
                   help=_("canvas: gradebook import; moodle: gradebook CSV import (by roster ids); moodle-worksheet: "
                          "the assignment's offline grading worksheet (a Moodle download's participant numbers)"))
    e.add_argument("--roster", help=_("the course roster (default: roster.csv beside grading_config.py, if any)"))
    e.add_argument("--canvas-assignment-id", help=_("Canvas's id of the assignment (the number in its URL): the column "
                                                    "becomes 'Title (id)' (default: canvas_id in grading_config's Assignment)"))
    e.add_argument("--out", help=_("file to write (default DIR/export-<format>.csv)"))
    e.add_argument("--nbgrader-db", help=_("also read manual grades from nbgrader's gradebook.db"))
    e.set_defaults(func=cmd_export)

    fe = sub.add_parser("feedback-export", help=_("the feedback pages laid out for the LMS's bulk feedback upload "
                                                  "(Moodle, Canvas) or a script for Classroom repositories"))
    fe.add_argument("dir", help=_("an `mdl grade --out` folder"))
    fe.add_argument("--format", required=True, choices=["canvas", "moodle", "classroom"])
    fe.add_argument("--roster", help=_("the course roster (default: roster.csv beside grading_config.py, if any)"))
    fe.set_defaults(func=cmd_feedback_export)

    sp = sub.add_parser("student-package", help=_("what students get, apart from the private course repository: "
                                                  "a wheel of student/ and a repository of student/ and the releases"))
    sp.add_argument("--out", required=True, help=_("folder for dist/ (the wheel) and repo/ (to publish)"))
    sp.add_argument("--url", help=_("the install URL filled into every release (default: STUDENT_PACKAGE_URL in "
                                    "grading_config.py)"))
    sp.set_defaults(func=cmd_student_package)

    gs = sub.add_parser("gradescope", help=_("write a Gradescope autograder zip for one assignment"))
    gs.add_argument("assignment")
    gs.add_argument("--out", required=True, help=_("the zip to write, e.g. autograder.zip"))
    gs.set_defaults(func=cmd_gradescope)

    f = sub.add_parser("formgrader", help=_("write autograded scores into nbgrader's gradebook for manual grading"))
    f.add_argument("assignment")
    f.add_argument("dir", help=_("an `mdl grade --out` folder"))
    f.add_argument("--course", required=True, help=_("nbgrader course folder (gradebook.db and autograded/ go there)"))
    f.add_argument("--submissions", help=_("the submissions folder, so formgrader can show each notebook"))
    f.set_defaults(func=cmd_formgrader)

    v = sub.add_parser("validate", help=_("source earns full marks, untouched release and generated wrong students "
                                          "zero, generated correct forms full marks"))
    v.add_argument("assignments", nargs="*")
    v.add_argument("--no-generated", action="store_true", help=_("only the source and the release (the quick check)"))
    v.add_argument("--jobs", "-j", type=_at_least_one, default=None,
                   help=_("generated students graded in parallel (default: 2, or 1 on one core)"))
    v.set_defaults(func=cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    from autograder.argparse_i18n import in_run_language

    with in_run_language():  # argparse's own words (usage, errors, --help) in MDL_LANG's language
        args = parser().parse_args(argv)
    from autograder.build import BuildError

    from autograder.safe_text import printable

    try:
        return args.func(args)
    except (BuildError, KeyError, FileNotFoundError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"mdl {args.command}: " + _("error: {message}").format(message=printable(message)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nmdl {args.command}: " + _("interrupted"), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
