"""The bridge codec: what the student's kernel sends is rebuilt as data, never run."""

import base64
import io
import pickle

import numpy as np
import pytest
import sympy as sp
import torch

from mdl_student.codec import CodecError, decode_value, dumps, encode_value, loads


def roundtrip(value):
    # Through real bytes, as on the pipe.
    return decode_value(loads(dumps({"v": encode_value(value)}))["v"])


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -7, 2**200, 1.5, -0.0, 1e-300, 3 + 4j, "text", "", [1, [2, [3]]], (1, "a"),
     {"a": 1, 2: [3.5], (1, 2): None}, {1, 2, 3}, [], {}],
)
def test_plain_values_roundtrip_exactly(value):
    out = roundtrip(value)
    assert out == value and type(out) is type(value)


def test_non_finite_floats_survive():
    out = roundtrip([float("inf"), float("-inf"), float("nan")])
    assert out[0] == float("inf") and out[1] == float("-inf") and out[2] != out[2]


@pytest.mark.parametrize("array", [np.arange(6.0).reshape(2, 3), np.array([1, 2], dtype=np.int32),
                                   np.array(3.5), np.zeros((0, 4)), np.array([1 + 2j]), np.array([True, False]),
                                   np.asfortranarray(np.arange(6.0).reshape(2, 3))])
def test_arrays_keep_shape_dtype_and_values(array):
    out = roundtrip(array)
    assert isinstance(out, np.ndarray)
    assert out.shape == array.shape and out.dtype == array.dtype
    np.testing.assert_array_equal(out, array)


def test_numpy_scalars_stay_numpy_scalars():
    out = roundtrip(np.float32(1.25))
    assert isinstance(out, np.float32) and out == np.float32(1.25)


def test_torch_tensors_keep_dtype():
    t = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    out = roundtrip(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert torch.equal(out, t.detach())
    bf = roundtrip(torch.tensor([1.5], dtype=torch.bfloat16))
    assert bf.dtype == torch.bfloat16 and float(bf[0]) == 1.5


@pytest.mark.parametrize(
    "expr",
    [
        sp.Symbol("x") ** 2 * sp.exp(sp.Symbol("x")),
        sp.Rational(3, 7) + sp.sqrt(2),
        sp.Matrix([[1, sp.Symbol("a")], [0, 2]]),
        sp.ImmutableMatrix([[sp.Symbol("t", positive=True)]]),
        sp.Piecewise((sp.Symbol("x"), sp.Symbol("x") > 0), (0, True)),
        sp.Eq(sp.Symbol("y"), 2 * sp.Symbol("x")),
        sp.FiniteSet(1, 2, sp.Symbol("z")),
        sp.Float("0.1", 30),
    ],
)
def test_sympy_objects_roundtrip_through_srepr(expr):
    out = roundtrip(expr)
    assert out == expr
    assert sp.srepr(out) == sp.srepr(expr)


def test_symbol_assumptions_survive():
    x = sp.Symbol("x", positive=True)
    out = roundtrip(sp.log(x))
    assert out.free_symbols.pop().is_positive


def test_pickle_payload_is_refused_not_loaded():
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Boom()], dtype=object), allow_pickle=True)
    payload = {"$ndarray": base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(CodecError):
        decode_value(payload)
    with pytest.raises(CodecError):
        decode_value({"$pickle": base64.b64encode(pickle.dumps(1)).decode()})


@pytest.mark.parametrize(
    "srepr_text",
    [
        "__import__('os').system('echo pwned')",
        "Symbol('x').__class__",
        "eval('1+1')",
        "Add(Symbol('x'), open('/etc/passwd'))",
        "Function('f')(lambda: 1)",
        "getattr(Symbol('x'), 'name')",
    ],
)
def test_srepr_that_calls_anything_outside_sympy_is_refused(srepr_text):
    with pytest.raises(CodecError):
        decode_value({"$sympy": srepr_text})


def test_unknown_objects_are_refused_with_their_type_named():
    class Custom:
        pass

    with pytest.raises(CodecError, match="Custom"):
        encode_value(Custom())
    with pytest.raises(CodecError, match="function"):
        encode_value(len)
    with pytest.raises(CodecError):
        encode_value(np.array([object()], dtype=object))
    with pytest.raises(CodecError, match="unknown payload tag"):
        decode_value({"$object": "x"})


def test_malformed_messages_are_refused():
    for raw in [b"\xff\xfe", b"[1, 2]", b"NaN", b'{"a": NaN}', b"{" * 100000]:
        with pytest.raises(CodecError):
            loads(raw)
    with pytest.raises(CodecError):
        decode_value({"$int": "9" * 100000})
    with pytest.raises(CodecError):
        decode_value({"$ndarray": "not base64!"})


def test_a_message_is_counted_before_it_is_built():
    """Issue 10, item 2: millions of empty lists are refused from their bytes, before any list exists."""
    from mdl_student.codec import count_items

    flood = dumps({"v": encode_value([[] for _ in range(500_000)])})
    assert count_items(flood) > 1_000_000
    with pytest.raises(CodecError, match="values, over the limit"):
        loads(flood)
    assert loads(flood, max_items=2_000_000)["v"]  # a higher limit, when the reader can afford it
    text = dumps({"output": "[1, 2, [3]], {4: 5}, " * 100_000})  # brackets and commas inside text do not count
    assert count_items(text) < 10 and loads(text, max_items=10)


def test_integers_past_pythons_digit_limit_are_a_codec_error():
    with pytest.raises(CodecError, match="malformed"):
        loads(b'{"n": ' + b"9" * 5000 + b"}")
    assert loads(b'{"n": ' + b"9" * 400 + b"}")["n"] == int("9" * 400)  # big, but a number the reader can check


def test_lone_surrogates_become_replacement_characters():
    """Issue 10, item 4: text from the kernel can always be written to a UTF-8 file."""
    message = loads(dumps({"error": "bad \ud800 text", "names": ["\udfff", {"\udc80": "ok \U0001f600"}]}))
    assert message == {"error": "bad \ufffd text", "names": ["\ufffd", {"\ufffd": "ok \U0001f600"}]}
    assert decode_value(loads(dumps({"v": encode_value("\ud800")}))["v"]) == "\ufffd"


def test_trusted_functions_travel_to_the_kernel_as_source():
    def square(v):
        return v * v

    payload = encode_value((square, 3.0), allow_functions=True)
    fn, x = decode_value(payload, allow_functions=True)
    assert fn(x) == 9.0
    with pytest.raises(CodecError):
        decode_value(payload)  # the grader side never rebuilds functions


def test_fractions_decimals_and_other_numbers_cross_the_bridge():
    """A6 q8: a Fraction returned by a student function or stored as an answer was refused (issue 21)."""
    from decimal import Decimal
    from fractions import Fraction

    for value in [Fraction(1, 3), Fraction(-7, 2), Fraction(10**40, 3), Decimal("0.1"), Decimal("-1E+3")]:
        out = roundtrip(value)
        assert out == value and type(out) is type(value)
    assert roundtrip([Fraction(1, 2), {"a": Fraction(3, 4)}]) == [Fraction(1, 2), {"a": Fraction(3, 4)}]
    for bad in [{"$fraction": ["1", "0"]}, {"$fraction": ["1"]}, {"$fraction": ["x", "2"]},
                {"$fraction": ["9" * 6000, "1"]}, {"$decimal": "not a number"}, {"$decimal": 1}]:
        with pytest.raises(CodecError):
            decode_value(bad)


def test_an_array_of_numbers_held_as_python_objects_crosses_item_by_item():
    from fractions import Fraction

    array = np.array([[sp.Rational(1, 2), Fraction(1, 3)], [1, 2.5]], dtype=object)
    out = roundtrip(array)
    assert out.dtype == object and out.shape == (2, 2)
    assert out[0, 0] == sp.Rational(1, 2) and out[0, 1] == Fraction(1, 3) and out[1, 1] == 2.5
    assert roundtrip(np.array(Fraction(1, 2), dtype=object)).shape == ()
    with pytest.raises(CodecError, match="holds list"):
        encode_value(np.array([[1], [1, 2]], dtype=object))
    for bad in [{"$objects": {"shape": [3], "items": [{"$int": "1"}]}},
                {"$objects": {"shape": [1], "items": [{"$list": []}]}}, {"$objects": [1]}]:
        with pytest.raises(CodecError):
            decode_value(bad)
