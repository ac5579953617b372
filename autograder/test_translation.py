"""Translating the words of a notebook's test cells: the messages they raise, the names they give, their comments.

A test cell's translation lives in the notebook's translation file (``i18n/notebooks/<a>.<lang>.yaml``),
keyed by the test cell's id::

    q2-linear-example:
      strings:    # a string literal's text, as written between its quotes, and its translation
      - en: 'y_example is Omega x alone: add the offsets beta'
        es: 'y_example es solo Omega x: sume los sesgos beta'
      - en: det_L at {where}
        es: det_L en {where}       # the same {fields}, checked
      comments:   # a comment of the visible part (the text after '# '; a block of lines is one text)
      - en: 'one entry per output: shape (2,), not a (2, 1) column'
        es: 'una entrada por salida: forma (2,), no una columna (2, 1)'

(a list of ``{en, <lang>}`` pairs, as the Markdown cells' entries, rather than a mapping: PyYAML writes
a key longer than 128 characters as an unreadable ``? ...`` complex key).

Which literals: only those whose words reach a student -- the arguments of a ``raise``d exception, an
``assert``'s message, the value of a ``name=``/``hint=``/``message=`` keyword, a variable assigned in the
cell and used there -- and of those only *prose*
(:func:`is_prose`): code-like names such as ``name="affine([1, 2], I, zeros((2, 3)))"`` need no entry.
Every other literal (``method="berkowitz"``, a dict key) is code and never substituted, whatever the file says.

The translated twin of a cell is the English cell with those literals' texts and those comments replaced
in place: layout, code and every other character stay byte for byte. :func:`same_program` is the build's
proof that a twin grades the same (its AST equals the English one once every string is blanked).
The literals are found from the AST's positions and split into their pieces by :func:`_literal_pieces`,
not from token kinds, which differ between Python versions (3.12 tokenizes f-strings into parts).
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass
from typing import Any, Iterator

from autograder.notebook_meta import is_solution_cell, nbgrader_meta

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"  # as compile_tests (imported there from here would be circular)
MESSAGE_KEYWORDS = frozenset({"name", "hint", "message", "msg", "description"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD = re.compile(r"\{[^{}]*\}")
_BACKTICKS = re.compile(r"`[^`]*`")
_PRAGMA = re.compile(r"^(noqa|type:|pragma|fmt:|pylint:)")


def is_test_cell_to_translate(cell: Any) -> bool:
    """An autograded test cell (nbgrader ``grade: true``, not an answer)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not is_solution_cell(cell)


# --------------------------------------------------------------------------- what is prose


def notebook_identifiers(sources: list[str]) -> set[str]:
    """Every name the notebook's code uses: variables, functions, parameters, attributes, modules."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.alias):
                names.update((node.asname or node.name).split("."))
                names.update(node.name.split("."))
            elif isinstance(node, ast.keyword) and node.arg:
                names.add(node.arg)
    return names


def is_prose(text: str, identifiers: set[str]) -> bool:
    """Whether a literal's (or comment's) text is words a student reads, so needs a translation.

    Prose: after dropping ``{fields}`` and ```backticked code```, some word of two or more letters
    (letters only: ``det_L`` and ``x2`` are code) is not one of the notebook's identifiers, or is one
    but is used as a word of a phrase: followed by a space and more text ("dlogsig at z = 2", where the
    notebook also has a variable ``at``; "a random array"; "width 40, variance 1.6/D").
    "affine([1, 2], I, zeros((2, 3)))" is code (affine, zeros are identifiers followed by a bracket; I
    has one letter); "det_L at {where}" is prose ("at"); "y_example" and "logits, labels" are code.
    """
    text = _BACKTICKS.sub(" ", _FIELD.sub(" ", text))
    for match in _WORD.finditer(text):
        word = match.group()
        if not (word.isalpha() and len(word) >= 2):
            continue
        if word not in identifiers or _PHRASE_NEXT.match(text, match.end()):
            return True
    return False


_PHRASE_NEXT = re.compile(r" [A-Za-z0-9]")  # a word followed by a space and another word or a number


# --------------------------------------------------------------------------- where the literals are


@dataclass(frozen=True)
class Piece:
    """One literal (or one comment) of a cell's source: its text sits at ``source[start:end]``."""

    start: int
    end: int
    text: str
    kind: str  # "strings" or "comments"
    is_fstring: bool = False
    wrap: tuple[int, str] | None = None  # a comment block: its width, and the prefix of its next lines


WRAPPED_WIDTH = 80  # a comment line at least this long, not ending a sentence, goes on in the next line
WRAP_AT = 100  # a translated whole-line comment is wrapped at this width, or the English block's if wider


def _wrapped(comment: tokenize.TokenInfo) -> bool:
    """Whether a whole-line comment looks cut by wrapping (so the next line's comment continues it)."""
    text = comment.string.rstrip()
    return comment.start[1] + len(text) >= WRAPPED_WIDTH and not text.endswith((".", "!", "?"))


def _comment_pieces(source: str, line_starts: list[int], visible_end: int, identifiers: set[str]) -> list[Piece]:
    """The visible part's prose comments; consecutive whole-line comments at one indentation are one
    text (a sentence wrapped over lines), rewrapped to the block's width when translated."""
    lines = source.splitlines()
    blocks: list[list[tokenize.TokenInfo]] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        row, col = tok.start
        text = tok.string.lstrip("#").strip()
        if (line_starts[row - 1] + col >= visible_end or tok.string.startswith("##") or _PRAGMA.match(text)
                or not text):
            blocks.append([])  # a marker or pragma ends a block
            continue
        whole_line = not lines[row - 1][:col].strip()
        previous = blocks[-1][-1] if blocks and blocks[-1] else None
        if (whole_line and previous is not None and previous.start[0] == row - 1 and previous.start[1] == col
                and not lines[row - 2][:col].strip() and _wrapped(previous)):
            blocks[-1].append(tok)
        else:
            blocks.append([tok])
    pieces = []
    for block in blocks:
        if not block:
            continue
        texts = [tok.string.lstrip("#").strip() for tok in block]
        text = " ".join(texts)
        if not is_prose(text, identifiers):
            continue
        first, last = block[0], block[-1]
        first_body = first.string.lstrip("#")
        start = line_starts[first.start[0] - 1] + first.start[1] + len(first.string) - len(first_body.lstrip())
        end = line_starts[last.start[0] - 1] + last.start[1] + len(last.string.rstrip())
        wrap = None
        if not lines[first.start[0] - 1][:first.start[1]].strip():  # whole-line comments: rewrapped if longer
            width = max([WRAP_AT] + [tok.start[1] + len(tok.string.rstrip()) for tok in block])
            prefix = first.string[:len(first.string) - len(first_body.lstrip())]
            wrap = (width, " " * first.start[1] + prefix)
        pieces.append(Piece(start, end, text, "comments", wrap=wrap))
    return pieces


def _offsets(source: str) -> list[int]:
    starts, total = [0], 0
    for line in source.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def _char_offset(source: str, line_starts: list[int], lineno: int, col_bytes: int) -> int:
    """The absolute character offset of an AST position (its column counts UTF-8 bytes)."""
    line = source[line_starts[lineno - 1]:line_starts[lineno] if lineno < len(line_starts) else len(source)]
    return line_starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8", "ignore"))


_PREFIX = re.compile(r"[rRbBuUfF]{0,2}")


def _literal_pieces(source: str, start: int, end: int) -> Iterator[tuple[int, int, bool]]:
    """The text spans (between the quotes) of the literals in ``source[start:end]``: one, or several
    implicitly concatenated (``"a" "b"``), with whitespace, comments or line continuations between."""
    i = start
    while i < end:
        ch = source[i]
        if ch in " \t\r\n\\(":
            i += 1
            continue
        if ch == "#":
            i = source.find("\n", i, end) if source.find("\n", i, end) != -1 else end
            continue
        prefix = _PREFIX.match(source, i).group(0)  # type: ignore[union-attr]
        i += len(prefix)
        quote = source[i:i + 3] if source[i:i + 3] in ('"""', "'''") else source[i]
        if quote not in ('"', "'", '"""', "'''"):
            return  # not a literal after all: leave the whole expression alone
        i += len(quote)
        body_start = i
        while i < end and not source.startswith(quote, i):
            i += 2 if source[i] == "\\" else 1
        yield body_start, i, "f" in prefix.lower()
        i += len(quote)


def _string_nodes(expr: ast.AST) -> Iterator[ast.expr]:
    """The string literals (plain or f-strings) in an expression, outermost only."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            yield node
            continue
        if isinstance(node, ast.keyword) and node.arg not in MESSAGE_KEYWORDS:
            continue  # method="berkowitz": an argument of the code, not words
        if isinstance(node, ast.Subscript):
            stack.append(node.value)  # d["key"]: the key is code
            continue
        if isinstance(node, ast.Compare):
            continue  # label == "first": a value the code tests
        stack.extend(ast.iter_child_nodes(node))


def _flows(tree: ast.Module) -> tuple[dict[str, list[ast.AST]], dict[str, list[ast.AST]]]:
    """Where each name's value comes from (assignments, loops, ``.append``, a function's call sites for its
    parameters), and each function of the cell's return values; scopes are not told apart (a cell is small)."""
    values: dict[str, list[ast.AST]] = {}
    returns: dict[str, list[ast.AST]] = {}

    def add(target: ast.AST, value: ast.AST | None) -> None:
        for name in ast.walk(target):
            if isinstance(name, ast.Name) and value is not None:
                values.setdefault(name.id, []).append(value)

    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target, node.value)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            add(node.target, node.value)
        elif isinstance(node, (ast.For, ast.comprehension)):
            add(node.target, node.iter)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                and node.func.attr in ("append", "extend", "insert", "add", "update"):
            for arg in node.args:
                add(node.func.value, arg)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            params = functions[node.func.id].args
            positional = [a.arg for a in params.posonlyargs + params.args]
            for name, arg in zip(positional, node.args):
                values.setdefault(name, []).append(arg)
            for keyword in node.keywords:
                if keyword.arg:
                    values.setdefault(keyword.arg, []).append(keyword.value)
    for name, function in functions.items():
        returns[name] = [n.value for n in ast.walk(function) if isinstance(n, ast.Return) and n.value is not None]
        params = function.args
        for arg, default in zip(reversed(params.posonlyargs + params.args), reversed(params.defaults)):
            values.setdefault(arg.arg, []).append(default)
    return values, returns


def _message_expressions(tree: ast.Module) -> list[ast.AST]:
    """The expressions whose words reach a student: what a ``raise`` raises, an ``assert``'s message, a
    ``name=``/``hint=`` value; and, followed through the cell, where the names and calls in them come from."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            found += list(node.exc.args) + [k.value for k in node.exc.keywords]
        elif isinstance(node, ast.Assert) and node.msg is not None:
            found.append(node.msg)
        elif isinstance(node, ast.keyword) and node.arg in MESSAGE_KEYWORDS:
            found.append(node.value)
    values, returns = _flows(tree)
    seen: set[str] = set()
    queue = list(found)
    while queue:
        expr = queue.pop()
        for node in _message_parts(expr):
            key = node.id if isinstance(node, ast.Name) else f"{node.func.id}()"  # type: ignore[union-attr]
            more = values.get(key, []) if isinstance(node, ast.Name) else returns.get(node.func.id, [])  # type: ignore[union-attr]
            if key not in seen and more:
                seen.add(key)
                found += more
                queue += more
    return found


def _message_parts(expr: ast.AST) -> Iterator[ast.AST]:
    """The names read, and the cell's functions called, in a message expression (not in code positions)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            yield node
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            yield node
        if isinstance(node, ast.keyword) and node.arg not in MESSAGE_KEYWORDS:
            continue
        if isinstance(node, (ast.Compare, ast.Lambda)):
            continue
        if isinstance(node, ast.Subscript):
            stack.append(node.value)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _docstrings(tree: ast.Module) -> Iterator[ast.Constant]:
    """The docstrings of the functions and classes a cell defines."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                yield first.value


def _visible_end(source: str) -> int:
    """Where the hidden region starts (the student sees the cell up to there)."""
    for match in re.finditer(r"^[ \t]*" + re.escape(BEGIN_HIDDEN) + r"[ \t]*$", source, flags=re.M):
        return match.start()
    return len(source)


def translatable_pieces(source: str, identifiers: set[str]) -> list[Piece]:
    """The literals and comments of a test cell's source that need a translation, in source order (none
    where the cell is not plain Python, e.g. an IPython magic: it stays shared, in English)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    line_starts = _offsets(source)
    visible_end = _visible_end(source)
    nodes: dict[tuple[int, int], ast.expr] = {}
    for expr in _message_expressions(tree):
        for node in _string_nodes(expr):
            nodes[(node.lineno, node.col_offset)] = node
    for docstring in _docstrings(tree):  # a helper's docstring in the visible part: the student reads it
        if _char_offset(source, line_starts, docstring.lineno, docstring.col_offset) < visible_end:
            nodes[(docstring.lineno, docstring.col_offset)] = docstring
    # a text the code also uses as a value (a dict key, a comparison) stays English: translating one copy
    # would change what the code does, and blanking the strings would not show it
    inside_fstrings = {id(part) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for part in ast.walk(n)}
    code_values = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                   and (n.lineno, n.col_offset) not in nodes and id(n) not in inside_fstrings}
    nodes = {at: n for at, n in nodes.items() if not (isinstance(n, ast.Constant) and n.value in code_values)}
    pieces: list[Piece] = []
    for node in nodes.values():
        start = _char_offset(source, line_starts, node.lineno, node.col_offset)
        end = _char_offset(source, line_starts, node.end_lineno or node.lineno, node.end_col_offset or 0)
        for body_start, body_end, is_f in _literal_pieces(source, start, end):
            text = source[body_start:body_end]
            if is_prose(text, identifiers):
                pieces.append(Piece(body_start, body_end, text, "strings", is_f))
    pieces += _comment_pieces(source, line_starts, visible_end, identifiers)
    return sorted(pieces, key=lambda p: p.start)


# --------------------------------------------------------------------------- the twin


def fields(text: str) -> list[str]:
    """The ``{fields}`` of a text, sorted (a translation may reorder them, never add or drop one)."""
    return sorted(_FIELD.findall(text))


class TranslationError(ValueError):
    """A translation that would change what the cell does; the message names the cell and the text."""


def pairs(entry: dict | None, kind: str, lang: str) -> dict[str, str]:
    """An entry's ``kind`` ("strings" or "comments") as {English: translation} (empty translations kept)."""
    out = {}
    for pair in (entry or {}).get(kind) or []:
        if isinstance(pair, dict) and "en" in pair:
            out[str(pair["en"])] = str(pair.get(lang) or "")
    return out


def translated_source(source: str, identifiers: set[str], entry: dict, lang: str,
                      where: str) -> tuple[str, list[str]]:
    """The cell's source with its translated literals and comments; and the texts still untranslated."""
    out, last, missing = [], 0, []
    table = {kind: pairs(entry, kind, lang) for kind in ("strings", "comments")}
    for piece in translatable_pieces(source, identifiers):
        new = table[piece.kind].get(piece.text, "")
        if not new.strip():
            if piece.text not in missing:
                missing.append(piece.text)
            continue
        if piece.kind == "strings" and fields(new) != fields(piece.text):
            raise TranslationError(f"{where}: the translation of {piece.text!r} has fields {fields(new)}, "
                                   f"the English {fields(piece.text)}")
        if piece.kind == "comments":
            new = " ".join(new.split())
            if piece.wrap:  # rewrap to the English block's width, each line a comment at its indentation
                width, prefix = piece.wrap
                lines = textwrap.wrap(new, width=width, initial_indent=prefix, subsequent_indent=prefix)
                new = "\n".join([lines[0][len(prefix):]] + lines[1:])
        out += [source[last:piece.start], new]
        last = piece.end
    out.append(source[last:])
    return "".join(out), missing


def _blanked(tree: ast.AST) -> str:
    class Blank(ast.NodeTransformer):
        def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:  # the fields stay, in any order
            values = [self.visit(v.value) for v in node.values if isinstance(v, ast.FormattedValue)]
            return ast.Tuple(elts=sorted(values, key=ast.dump), ctx=ast.Load())

        def visit_Constant(self, node: ast.Constant) -> ast.AST:
            return ast.Constant(value="") if isinstance(node.value, str) else node

    return ast.dump(Blank().visit(tree), include_attributes=False)


def same_program(english: str, twin: str) -> bool:
    """Whether two test cells differ at most in their strings' texts and their comments."""
    try:
        return _blanked(ast.parse(english)) == _blanked(ast.parse(twin))
    except SyntaxError:
        return False


# --------------------------------------------------------------------------- the translation file


def skeleton_entry(source: str, identifiers: set[str], old: dict | None, lang: str) -> tuple[dict, list[str]]:
    """A test cell's entry: every text it needs (existing translations kept, stale ones after them);
    and the stale texts of ``old`` (no longer in the English cell)."""
    entry: dict[str, list[dict[str, str]]] = {}
    stale = []
    needed = translatable_pieces(source, identifiers)
    for kind in ("strings", "comments"):
        known = pairs(old, kind, lang)
        texts = list(dict.fromkeys(p.text for p in needed if p.kind == kind))
        gone = [text for text in known if text not in texts]
        stale += [f"{kind}: {text!r}" for text in gone]
        rows = [{"en": text, lang: known.get(text, "")} for text in texts + gone]  # a stale one stays until deleted
        if rows:
            entry[kind] = rows
    return entry, stale


def untranslated(source: str, identifiers: set[str], entry: dict | None, lang: str) -> list[str]:
    """The texts of a test cell that need a translation and have none."""
    table = {kind: pairs(entry, kind, lang) for kind in ("strings", "comments")}
    return list(dict.fromkeys(p.text for p in translatable_pieces(source, identifiers)
                              if not table[p.kind].get(p.text, "").strip()))
