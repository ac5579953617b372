"""The one codec for values that cross the bridge between grader and kernel.

Everything the student's kernel sends to the grader is decoded here, and this
module is the whole of what the grader trusts about that data:

* plain data (None, bool, int, float, complex, str, list, tuple, dict, set)
  travels as tagged JSON; so do the other numbers of the standard library:
  ``fractions.Fraction`` exactly (numerator and denominator), ``decimal.Decimal``
  as its text, and any other ``numbers.Number`` as the int, float or complex
  it converts to;
* numpy arrays and scalars travel as ``.npy`` bytes, loaded with
  ``allow_pickle=False``; an array of Python objects (dtype=object) travels
  only when its items are numbers or sympy objects, each encoded on its own
  (never pickled);
* torch tensors travel as arrays with their dtype name and are rebuilt as
  tensors (bfloat16 goes as float32 and is cast back);
* sympy objects travel as ``srepr`` text, rebuilt by the whitelisting parser
  in :mod:`mdl_student.safe_sympy` (never ``eval``, never ``sympify``);
* a function cannot travel from the kernel to the grader (the grader calls
  student functions through :mod:`autograder.bridge` proxies instead);
  a *trusted* function travels from the grader to the kernel as its source.

Nothing is ever unpickled or evaluated on the decoding side.
"""

from __future__ import annotations

import base64
import inspect
import io
import json
import re
import textwrap
from typing import Any, Callable

MAX_DEPTH = 64
# What one message may hold: containers and scalars (each costs the reader a Python object or more).
MAX_ITEMS = 1_000_000


class CodecError(ValueError):
    """A value could not be encoded or decoded; the message names the type."""


# --------------------------------------------------------------------------- encode


def _npy_bytes(array: Any) -> str:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _is_sympy(value: Any) -> bool:
    return type(value).__module__.startswith("sympy.")


def _is_torch_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and type(value).__name__ in {
        "Tensor",
        "Parameter",
    }


def encode_value(value: Any, _depth: int = 0, *, allow_functions: bool = False) -> Any:
    """Turn a value into tagged JSON-compatible data, or raise CodecError.

    ``allow_functions`` is for the grader only: trusted functions it passes to
    a student function (``grad_fd(f, x)``) travel as source text.
    """
    if _depth > MAX_DEPTH:
        raise CodecError(f"value is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    student_name = getattr(value, "_mdl_student_name", None) if allow_functions else None
    if isinstance(student_name, str):
        return {"$student": student_name}  # a proxy going home: the kernel looks the name up
    if isinstance(value, int):
        return {"$int": str(int(value))}  # exact, whatever its size
    if isinstance(value, float):
        return {"$float": repr(float(value))}  # keeps nan, inf and every bit
    if isinstance(value, complex):
        return {"$complex": [repr(value.real), repr(value.imag)]}
    if isinstance(value, (list, tuple, set, frozenset)):
        tag = "$list" if isinstance(value, list) else "$tuple" if isinstance(value, tuple) else "$set"
        items = value if tag != "$set" else sorted(value, key=repr)
        return {tag: [encode_value(v, _depth + 1, allow_functions=allow_functions) for v in items]}
    if isinstance(value, dict):
        pairs = [(encode_value(k, _depth + 1), encode_value(v, _depth + 1, allow_functions=allow_functions))
                 for k, v in value.items()]
        return {"$dict": [list(pair) for pair in pairs]}
    module = type(value).__module__
    if module == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                return _encode_object_array(value, _depth)
            return {"$ndarray": _npy_bytes(value)}
        if isinstance(value, np.generic):
            return {"$npscalar": _npy_bytes(np.asarray(value))}
    if _is_torch_tensor(value):
        import torch

        tensor = value.detach().cpu()
        dtype = str(tensor.dtype)
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        return {"$tensor": _npy_bytes(tensor.numpy()), "dtype": dtype}
    if _is_sympy(value):
        import sympy

        return {"$sympy": sympy.srepr(value)}
    number = _encode_other_number(value)
    if number is not None:
        return number
    if callable(value) and allow_functions:
        return encode_function(value)
    if callable(value):
        raise CodecError(
            f"a function ({getattr(value, '__name__', type(value).__name__)}) cannot be sent as an answer; "
            "answers must be numbers, arrays, lists, dicts, strings or sympy objects"
        )
    raise CodecError(
        f"a value of type {type(value).__name__} cannot be sent to the grader; "
        "answers must be numbers, arrays, lists, dicts, strings or sympy objects"
    )


def _encode_object_array(array: Any, depth: int) -> dict[str, Any]:
    """An array of Python objects whose items are numbers or sympy objects (Fractions, sympy Rationals), item by item."""
    import numbers

    items = []
    for item in array.ravel().tolist():
        if isinstance(item, bool) or not (isinstance(item, numbers.Number) or _is_sympy(item)):
            raise CodecError("numpy arrays of Python objects (dtype=object) can be graded only when they hold numbers "
                             f"or sympy objects, and this one holds {type(item).__name__}: use an array of floats, "
                             "or a sympy Matrix for exact values")
        items.append(encode_value(item, depth + 1))
    return {"$objects": {"shape": [int(n) for n in array.shape], "items": items}}


def _decode_object_array(body: Any, recurse: Callable[[Any], Any]) -> Any:
    import math

    import numpy as np

    if not isinstance(body, dict) or not isinstance(body.get("shape"), list) or not isinstance(body.get("items"), list):
        raise CodecError("malformed object array payload")
    shape = body["shape"]
    if len(shape) > 32 or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_ITEMS for n in shape) \
            or math.prod(shape) != len(body["items"]):
        raise CodecError("malformed object array payload (its shape does not match its items)")
    out = np.empty(len(body["items"]), dtype=object)
    for index, item in enumerate(body["items"]):
        value = recurse(item)
        if isinstance(value, (list, tuple, dict, set, np.ndarray)):
            raise CodecError("malformed object array payload (an item is a container)")
        out[index] = value
    return out.reshape(shape)


def _encode_other_number(value: Any) -> dict[str, Any] | None:
    """A number of another type (Fraction, Decimal, a numbers.Number of a library) as tagged JSON, or None.

    Called after numpy, torch and sympy (whose numbers register as numbers.Number too) had their turn.
    """
    import decimal
    import fractions
    import numbers

    if isinstance(value, fractions.Fraction):
        return {"$fraction": [str(value.numerator), str(value.denominator)]}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if not isinstance(value, numbers.Number):
        return None
    try:  # a number type we do not know: by the most exact builtin it converts to
        if isinstance(value, numbers.Integral):
            return {"$int": str(int(value))}
        if isinstance(value, numbers.Real):
            return {"$float": repr(float(value))}
        if isinstance(value, numbers.Complex):
            return {"$complex": [repr(complex(value).real), repr(complex(value).imag)]}
    except (TypeError, ValueError, OverflowError, ArithmeticError) as err:
        raise CodecError(f"the number of type {type(value).__name__} could not be converted: {err}") from None
    return None


def _integer_text(text: Any, what: str) -> int:
    if not isinstance(text, str) or len(text) > 5000:
        raise CodecError(f"malformed or oversized {what} payload")
    try:
        return int(text)
    except ValueError as err:
        raise CodecError(f"malformed {what} payload") from err


def encode_function(fn: Callable[..., Any]) -> dict[str, str]:
    """Encode a trusted grader function for the kernel as its source text.

    Only the grader→kernel direction uses this.  Plain ``def`` functions are
    sent whole; a lambda must stand alone on its line (``f = lambda x: x**2``).
    """
    name = getattr(fn, "__name__", "")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as err:
        raise CodecError(f"cannot send function {name!r} to the kernel: its source is not available") from err
    if name == "<lambda>":
        import ast

        lambdas = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Lambda)]
        if len(lambdas) != 1:
            raise CodecError("a lambda sent to the kernel must stand alone on its line")
        source = "__mdl_fn__ = " + ast.unparse(lambdas[0])
        name = "__mdl_fn__"
    return {"$function": source, "name": name}


# --------------------------------------------------------------------------- decode


def _load_npy(text: str) -> Any:
    import numpy as np

    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as err:  # any malformed payload is the sender's fault
        raise CodecError(f"malformed array payload ({type(err).__name__}: {err})") from err


def _float(text: Any) -> float:
    if not isinstance(text, str) or len(text) > 64:
        raise CodecError("malformed float payload")
    try:
        return float(text)
    except ValueError as err:
        raise CodecError(f"malformed float payload {text[:40]!r}") from err


def decode_value(
    data: Any, _depth: int = 0, *, allow_functions: bool = False, namespace: dict[str, Any] | None = None
) -> Any:
    """Rebuild a value from :func:`encode_value` output without running any code.

    ``allow_functions`` and ``namespace`` are for the kernel side only (trusted
    functions sent by the grader, and the student's own functions named by a
    proxy); the grader never decodes functions.
    """
    if _depth > MAX_DEPTH:
        raise CodecError(f"value is nested more than {MAX_DEPTH} levels deep")
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, (int, float)):
        return data  # plain JSON numbers are accepted too
    if not isinstance(data, dict) or not data:
        raise CodecError(f"unexpected payload of type {type(data).__name__}")
    tag = next(iter(data))
    body = data[tag]
    recurse = lambda v: decode_value(v, _depth + 1, allow_functions=allow_functions, namespace=namespace)  # noqa: E731
    if tag == "$int":
        if not isinstance(body, str) or len(body) > 5000:
            raise CodecError("malformed or oversized integer payload")
        try:
            return int(body)
        except ValueError as err:
            raise CodecError("malformed integer payload") from err
    if tag == "$float":
        return _float(body)
    if tag == "$fraction":
        import fractions

        if not isinstance(body, list) or len(body) != 2:
            raise CodecError("malformed fraction payload")
        numerator, denominator = _integer_text(body[0], "fraction"), _integer_text(body[1], "fraction")
        if denominator == 0:
            raise CodecError("malformed fraction payload (a zero denominator)")
        return fractions.Fraction(numerator, denominator)
    if tag == "$decimal":
        import decimal

        if not isinstance(body, str) or len(body) > 5000:
            raise CodecError("malformed or oversized decimal payload")
        try:
            return decimal.Decimal(body)
        except decimal.InvalidOperation as err:
            raise CodecError("malformed decimal payload") from err
    if tag == "$bytes":
        try:
            return base64.b64decode(str(body).encode("ascii"), validate=True)
        except ValueError as err:
            raise CodecError("malformed bytes payload") from err
    if tag == "$student" and allow_functions and namespace is not None:
        if body not in namespace:
            raise CodecError(f"`{body}` is not defined in the notebook")
        return namespace[body]
    if tag == "$complex":
        if not isinstance(body, list) or len(body) != 2:
            raise CodecError("malformed complex payload")
        return complex(_float(body[0]), _float(body[1]))
    if tag in ("$list", "$tuple", "$set"):
        if not isinstance(body, list):
            raise CodecError(f"malformed {tag[1:]} payload")
        items = [recurse(v) for v in body]
        if tag == "$list":
            return items
        if tag == "$tuple":
            return tuple(items)
        try:
            return set(items)
        except TypeError as err:
            raise CodecError("a set holds unhashable items") from err
    if tag == "$dict":
        if not isinstance(body, list):
            raise CodecError("malformed dict payload")
        out = {}
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise CodecError("malformed dict entry")
            key = recurse(pair[0])
            try:
                out[key] = recurse(pair[1])
            except TypeError as err:
                raise CodecError("a dict key is unhashable") from err
        return out
    if tag == "$ndarray":
        return _load_npy(body)
    if tag == "$objects":
        return _decode_object_array(body, recurse)
    if tag == "$npscalar":
        return _load_npy(body)[()]
    if tag == "$tensor":
        import torch

        array = _load_npy(body)
        dtype_name = str(data.get("dtype", ""))
        try:  # an array torch cannot hold (strings, uint16 ...) is a malformed payload, not a grader crash
            tensor = torch.from_numpy(array.copy())
            if dtype_name.startswith("torch.") and hasattr(torch, dtype_name[6:]):
                target = getattr(torch, dtype_name[6:])
                if isinstance(target, torch.dtype):
                    tensor = tensor.to(target)
        except (TypeError, ValueError, RuntimeError) as err:
            raise CodecError(f"malformed tensor payload ({err})") from err
        return tensor
    if tag == "$sympy":
        from mdl_student.safe_sympy import UnsafeExpression, parse_srepr

        if not isinstance(body, str):
            raise CodecError("malformed sympy payload")
        try:
            return parse_srepr(body)
        except UnsafeExpression as err:
            raise CodecError(f"refused sympy payload: {err}") from err
    if tag == "$function" and allow_functions:
        namespace: dict[str, Any] = {}
        exec(compile(body, "<grader function>", "exec"), namespace)  # trusted: sent by the grader
        return namespace[data["name"]]
    raise CodecError(f"unknown payload tag {tag!r}")


def dumps(message: dict[str, Any]) -> bytes:
    """Serialise a protocol message (already encoded values) to bytes."""
    return json.dumps(message, allow_nan=False, separators=(",", ":")).encode("utf-8")


def loads(raw: bytes, *, max_items: int = MAX_ITEMS) -> dict[str, Any]:
    """Parse a protocol message; refuses anything but a JSON object of at most ``max_items`` values.

    The count is taken from the bytes before anything is built, so that a message of
    millions of empty lists costs its reader nothing.  Integers longer than Python's
    digit limit are refused; a lone surrogate (``"\\ud800"``, which no UTF-8 file can
    hold) is replaced by U+FFFD, so that text from the kernel can always be written out.
    """
    items = count_items(raw)
    if items > max_items:
        raise CodecError(f"the message holds {items:,} values, over the limit of {max_items:,}")
    try:
        message = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except CodecError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # ValueError: bad JSON, or an int past the digit limit
        raise CodecError(f"malformed message from the kernel ({type(err).__name__})") from err
    if not isinstance(message, dict):
        raise CodecError("malformed message from the kernel (not an object)")
    if _SURROGATE_ESCAPE.search(raw):
        message = _replace_lone_surrogates(message)
    return message


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def count_items(raw: bytes) -> int:
    """How many values (containers and scalars) a JSON text holds, at most: read from the bytes, nothing built."""
    def count(text: bytes) -> int:
        return text.count(b"[") + text.count(b"{") + text.count(b",") + 1

    bound = count(raw)  # fast, but counts brackets and commas inside strings too
    return bound if bound <= MAX_ITEMS // 10 else count(_JSON_STRING.sub(b'""', raw))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):  # json.loads has already joined every valid pair: what is left is alone
        return _SURROGATE.sub("\ufffd", value) if _has_surrogate(value) else value
    if isinstance(value, list):
        return [_replace_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v) for k, v in value.items()}
    return value


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refuse_constant(name: str) -> float:
    raise CodecError(f"bare {name} in a message")


__all__ = ["CodecError", "encode_value", "encode_function", "decode_value", "dumps", "loads"]
