"""The `mdl` command: build, grade, merge, validate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grading_config


def _assignments(ids: list[str]) -> list[grading_config.Assignment]:
    return [grading_config.assignment(i) for i in ids] if ids else list(grading_config.ASSIGNMENTS)


def cmd_build(args: argparse.Namespace) -> int:
    from autograder.build import build

    results = build(args.assignments or None, check=args.check)
    for r in results:
        questions = len(r.manifest.questions)
        verb = "is up to date" if args.check else "written"
        print(f"{r.assignment}: release {r.release.relative_to(grading_config.ROOT)} {verb}; "
              f"{questions} questions, {r.manifest.max_score:g} points compiled to build/{r.assignment}/tests/")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.batch import Shard, grade_batch

    if args.profile:
        import os

        os.environ["MDL_CAPSTONE_PROFILE"] = args.profile
    shard = Shard.parse(args.shard) if args.shard else None
    records = grade_batch(
        grading_config.assignment(args.assignment), Path(args.path), Path(args.out),
        jobs=args.jobs, force=args.force, shard=shard,
    )  # fmt: skip
    print(f"\n{len(records)} submission(s); gradebook: {Path(args.out) / 'grades.csv'}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from autograder.batch import merge

    merge([Path(p) for p in args.shards], grading_config.assignment(args.assignment), Path(args.out))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from autograder.validate import validate

    reports = [validate(a) for a in _assignments(args.assignments)]
    return 0 if all(r.ok for r in reports) else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mdl", description="Maths for Deep Learning: build releases and grade submissions.")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="write release/ with nbgrader and compile the tests into build/")
    b.add_argument("assignments", nargs="*", help="assignment ids (default: all in grading_config.py)")
    b.add_argument("--check", action="store_true", help="fail if the committed release/ is not what the build writes")
    b.set_defaults(func=cmd_build)

    g = sub.add_parser("grade", help="grade a folder of submissions")
    g.add_argument("assignment")
    g.add_argument("path", help="folder: <student>/<a>/<a>.ipynb (nbgrader) or <student>.ipynb (flat)")
    g.add_argument("--out", required=True, help="output folder for grades.csv and <student>/results.json")
    g.add_argument("--jobs", "-j", type=int, default=None, help="kernels in parallel (default: one per core)")
    g.add_argument("--force", action="store_true", help="regrade submissions already graded and unchanged")
    g.add_argument("--shard", help="grade only shard i of n (i/n), for CI matrices")
    g.add_argument("--profile", choices=["cpu", "gpu"], help="capstone training profile (default: cpu)")
    g.set_defaults(func=cmd_grade)

    m = sub.add_parser("merge", help="join shard outputs into one gradebook")
    m.add_argument("assignment")
    m.add_argument("shards", nargs="+", help="the shards' --out folders")
    m.add_argument("--out", required=True)
    m.set_defaults(func=cmd_merge)

    v = sub.add_parser("validate", help="source earns full marks, untouched release earns zero")
    v.add_argument("assignments", nargs="*")
    v.set_defaults(func=cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from autograder.build import BuildError

    try:
        return args.func(args)
    except (BuildError, KeyError, FileNotFoundError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"mdl {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
