"""Insert a notebook's translated edition from its translation file: `python scripts/add_edition.py a1 es`.

The translation file ``i18n/notebooks/<a>.<lang>.yaml`` maps the id of each English Markdown cell to
``{en: <the English text translated>, es: <its translation>}``, and the id of each test cell to
``{strings: [{en: <a literal's text>, es: <its translation>}, ...], comments: [{en: ..., es: ...}, ...]}``
(autograder/test_translation.py says which literals and comments; README, 'The course in Spanish').
A test cell with a translated text gets a twin, tagged ``lang:<lang>``, that differs from it only in
those texts (the build checks that the twin's program is the English one). For every cell whose English text is
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
from autograder.test_translation import (  # noqa: E402
    TranslationError, is_test_cell_to_translate, notebook_identifiers, same_program, skeleton_entry, translated_source)
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
    report: dict[str, list[str]] = {"translated": [], "changed": [], "missing": [], "unused": [],
                                    "tests": [], "untranslated texts": []}
    identifiers = code_identifiers(cells)
    out = []
    for cell in cells:
        out.append(cell)
        if is_test_cell_to_translate(cell):
            twin = test_twin(cell, translations.get(cell.get("id")) or {}, identifiers, lang, report)
            if twin is not None:
                _set_lang(cell, SOURCE_LANGUAGE)
                out.append(twin)
            continue
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


def code_identifiers(cells: list) -> set[str]:
    """The names the notebook's code uses (a literal made of them only is code, not prose)."""
    return notebook_identifiers([c.source for c in cells if c.cell_type == "code" and cell_language(c) in (None, SOURCE_LANGUAGE)])


def test_twin(cell: nbformat.NotebookNode, entry: dict, identifiers: set[str], lang: str,
              report: dict[str, list[str]]) -> nbformat.NotebookNode | None:
    """The ``lang`` twin of a test cell (None where nothing of it is translated yet)."""
    where = f"test cell {cell.get('id')}"
    source, missing = translated_source(cell.source, identifiers, entry, lang, where)
    report["untranslated texts"] += [f"{cell.get('id')}: {text!r}" for text in missing]
    if source == cell.source:
        return None
    if not same_program(cell.source, source):
        raise TranslationError(f"{where}: the translated cell is not the same program (a translation with a quote "
                               "that ends its literal early?)")
    twin = copy.deepcopy(cell)
    twin["id"] = f"{cell.get('id')}-{lang}"
    twin.source = source
    twin.outputs, twin.execution_count = [], None
    _set_lang(twin, lang)
    report["tests"].append(cell.get("id"))
    return twin


def skeleton(nb: nbformat.NotebookNode, translations: dict, lang: str) -> tuple[dict, list[str]]:
    """The translation file with an entry (English filled in, translation empty) for every translatable cell,
    and for every test cell the texts it needs; and the test texts in the file no longer in the notebook."""
    out, stale = {}, []
    english = [c for c in nb.cells if cell_language(c) in (None, SOURCE_LANGUAGE)]
    identifiers = code_identifiers(english)
    for cell in english:
        old = translations.get(cell.get("id"), {})
        if translatable(cell):
            out[cell.get("id")] = {"en": cell.source, lang: old.get(lang, "")}
        elif is_test_cell_to_translate(cell):
            entry, gone = skeleton_entry(cell.source, identifiers, old, lang)
            stale += [f"{cell.get('id')}: {key}" for key in gone]
            if entry:
                out[cell.get("id")] = entry
    return out, stale


def todo(nb: nbformat.NotebookNode, translations: dict, lang: str) -> list[str]:
    """What remains untranslated: Markdown cells and test-cell texts without a (current) translation."""
    report = add_edition(copy.deepcopy(nb), translations, lang)
    return ([f"markdown {cid}: no translation" for cid in report["missing"]]
            + [f"markdown {cid}: English changed since translated" for cid in report["changed"]]
            + [f"test {text}" for text in report["untranslated texts"]])


class _Literal(str):
    pass


def _header_of(path: Path) -> str:
    """The file's leading comment lines (yaml.dump would drop them)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line + "\n")
    return "".join(header)


def _dump(data: dict) -> str:
    """YAML for people: Markdown as literal blocks, a test cell's texts one per line."""
    yaml.add_representer(_Literal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|"))

    def field(value: object) -> object:
        return value if isinstance(value, (dict, list)) else _Literal(str(value).rstrip() + "\n") if value else ""

    literal = {k: {f: field(v) for f, v in e.items()} for k, e in data.items()}
    return yaml.dump(literal, allow_unicode=True, sort_keys=False, width=1000)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("assignment")
    p.add_argument("lang", choices=[code for code in LANGUAGES if code != SOURCE_LANGUAGE])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--skeleton", action="store_true",
                      help="write the translation file's entries for cells and test texts not in it yet (translation empty)")
    mode.add_argument("--todo", action="store_true",
                      help="list what remains untranslated (Markdown cells, test-cell texts); changes nothing")
    args = p.parse_args(argv)
    a = assignment(args.assignment)
    path = ROOT / "source" / a.id / a.notebook
    nb = nbformat.read(path, as_version=4)
    tpath = translation_path(a.id, args.lang)
    translations = yaml.safe_load(tpath.read_text(encoding="utf-8")) if tpath.exists() else {}
    if args.skeleton:
        tpath.parent.mkdir(parents=True, exist_ok=True)
        data, stale = skeleton(nb, translations or {}, args.lang)
        tpath.write_text(_header_of(tpath) + _dump(data), encoding="utf-8")
        print(f"{tpath.relative_to(ROOT)}: one entry per translatable cell and test cell; fill in the {args.lang} texts")
        if stale:
            print("  no longer in the English test cells (delete, or reuse for a text that replaced them): "
                  + "; ".join(stale))
        return 0
    if args.todo:
        remaining = todo(nb, translations or {}, args.lang)
        for line in remaining:
            print(line)
        print(f"{a.id} ({args.lang}): {len(remaining)} text(s) untranslated")
        return 0
    if not translations:
        print(f"no translation file {tpath.relative_to(ROOT)} (start one with --skeleton)", file=sys.stderr)
        return 2
    try:
        report = add_edition(nb, translations, args.lang)
    except TranslationError as err:
        print(f"{tpath.relative_to(ROOT)}: {err}", file=sys.stderr)
        return 2
    nbformat.write(nb, path)
    print(f"source/{a.id}/{a.notebook}: {len(report['translated'])} Markdown cell(s) and {len(report['tests'])} "
          f"test cell(s) with a {args.lang} twin")
    for kind, says in (("changed", "English changed since translated (left shared, in English)"),
                       ("missing", "no translation (left shared, in English)"),
                       ("unused", "in the translation file but no longer in the notebook"),
                       ("untranslated texts", "test-cell texts without a translation (left in English)")):
        if report[kind]:
            print(f"  {says}: {', '.join(map(str, report[kind]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
