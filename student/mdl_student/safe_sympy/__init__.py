"""Rebuild sympy objects from untrusted text, without ever executing it.

Two kinds of text reach the grader from a student:

- a typed answer such as ``"x**2*exp(x)"`` (`parse_answer_text`);
- the ``sympy.srepr`` of an object built in the student's kernel, which is how
  sympy values cross the bridge (`parse_srepr`).

``sympify``/``parse_expr`` call ``eval`` on their input, so neither is used
here.  Both parsers read the text with Python's `ast` module and walk the tree
themselves, accepting only a fixed set of node kinds, names and callables; any
other construct raises `UnsafeExpression` with a message a student can act on.
Strings reach a sympy constructor only in the few positions where they are
names (``Symbol('x')``) or decimal digits (``Float('0.5')``), because many
sympy constructors would otherwise hand a string to ``sympify`` and so to
``eval``.

Sympy evaluates while it builds (``Integer(9)**Integer(9**9)`` computes a
number with 370 million digits), so both parsers also guard against input
that is cheap to write and expensive to build: `parse_srepr` builds every node
with ``evaluate=False`` (an srepr already describes a finished tree), and
`parse_answer_text` leaves a power, product or function call unevaluated when
evaluating it could produce a huge number.
"""

from mdl_student.safe_sympy.srepr import parse_srepr
from mdl_student.safe_sympy.typed_answers import parse_answer_text
from mdl_student.safe_sympy.whitelist import UnsafeExpression

__all__ = ["UnsafeExpression", "parse_answer_text", "parse_srepr"]
