"""Insert a notebook's translated edition from its translation file: `python scripts/add_edition.py a1 es`.

The translation file ``i18n/notebooks/<a>.<lang>.yaml`` maps the id of each English Markdown cell to
``{en: <the English text translated>, es: <its translation>}``. For every cell whose English text is
still the one translated, the script tags the English cell ``lang:en`` and puts its twin, tagged
``lang:<lang>``, right after it (a locked cell's twin keeps its nbgrader metadata and grade_id).
A cell whose English changed since it was translated, or that has no translation, stays shared
(untagged: both editions show the English) and is listed. Idempotent: the twins are rebuilt from
the file each run, so re-run it after merging changes to the source notebook.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.notebook_meta import SOURCE_LANGUAGE, cell_language, lang_tag, nbgrader_meta  # noqa: E402
from grading_config import LANGUAGES, assignment  # noqa: E402


def translation_path(assignment_id: str, lang: str) -> Path:
    return ROOT / "i18n" / "notebooks" / f"{assignment_id}.{lang}.yaml"


def _set_lang(cell: nbformat.NotebookNode, lang: str | None) -> None:
    tags = [t for t in cell.metadata.get("tags", []) if not str(t).startswith("lang:")]
    if lang:
        tags.append(lang_tag(lang))
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)


def translatable(cell: nbformat.NotebookNode) -> bool:
    """Markdown the student reads and does not answer in (an answer cell is the student's own text)."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "markdown" and not meta.get("solution") and not meta.get("grade")


def add_edition(nb: nbformat.NotebookNode, translations: dict, lang: str) -> dict[str, list[str]]:
    """Rebuild ``nb``'s ``lang`` twins in place; returns the ids translated, changed, missing and unused."""
    cells = [c for c in nb.cells if cell_language(c) != lang]
    for cell in cells:
        if cell_language(cell) == SOURCE_LANGUAGE:
            _set_lang(cell, None)
    report: dict[str, list[str]] = {"translated": [], "changed": [], "missing": [], "unused": []}
    out = []
    for cell in cells:
        out.append(cell)
        if not translatable(cell):
            continue
        entry = translations.get(cell.get("id"))
        if not entry or not str(entry.get(lang, "")).strip():
            report["missing"].append(cell.get("id"))
            continue
        if str(entry.get("en", "")).strip() != cell.source.strip():
            report["changed"].append(cell.get("id"))
            continue
        twin = copy.deepcopy(cell)
        twin["id"] = f"{cell.get('id')}-{lang}"
        twin.source = str(entry[lang]).strip()
        _set_lang(cell, SOURCE_LANGUAGE)
        _set_lang(twin, lang)
        out.append(twin)
        report["translated"].append(cell.get("id"))
    ids = {c.get("id") for c in cells}
    report["unused"] = [key for key in translations if key not in ids]
    nb.cells = out
    return report


def skeleton(nb: nbformat.NotebookNode, translations: dict, lang: str) -> dict:
    """The translation file with an entry (English filled in, translation empty) for every translatable cell."""
    out = {}
    for cell in nb.cells:
        if translatable(cell) and cell_language(cell) in (None, SOURCE_LANGUAGE):
            old = translations.get(cell.get("id"), {})
            out[cell.get("id")] = {"en": cell.source, lang: old.get(lang, "")}
    return out


class _Literal(str):
    pass


def _dump(data: dict) -> str:
    yaml.add_representer(_Literal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|"))
    literal = {k: {f: _Literal(v.rstrip() + "\n") if v else "" for f, v in e.items()} for k, e in data.items()}
    return yaml.dump(literal, allow_unicode=True, sort_keys=False, width=1000)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignment")
    p.add_argument("lang", choices=[code for code in LANGUAGES if code != SOURCE_LANGUAGE])
    p.add_argument("--skeleton", action="store_true",
                   help="write the translation file's entries for cells not in it yet (translation empty)")
    args = p.parse_args(argv)
    a = assignment(args.assignment)
    path = ROOT / "source" / a.id / a.notebook
    nb = nbformat.read(path, as_version=4)
    tpath = translation_path(a.id, args.lang)
    translations = yaml.safe_load(tpath.read_text(encoding="utf-8")) if tpath.exists() else {}
    if args.skeleton:
        tpath.parent.mkdir(parents=True, exist_ok=True)
        tpath.write_text(_dump(skeleton(nb, translations or {}, args.lang)), encoding="utf-8")
        print(f"{tpath.relative_to(ROOT)}: one entry per translatable cell; fill in the {args.lang} texts")
        return 0
    if not translations:
        print(f"no translation file {tpath.relative_to(ROOT)} (start one with --skeleton)", file=sys.stderr)
        return 2
    report = add_edition(nb, translations, args.lang)
    nbformat.write(nb, path)
    print(f"source/{a.id}/{a.notebook}: {len(report['translated'])} cell(s) with a {args.lang} twin")
    for kind, says in (("changed", "English changed since translated (left shared, in English)"),
                       ("missing", "no translation (left shared, in English)"),
                       ("unused", "in the translation file but no longer in the notebook")):
        if report[kind]:
            print(f"  {says}: {', '.join(map(str, report[kind]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
