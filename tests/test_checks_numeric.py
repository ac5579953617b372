"""Numeric checks: assert_close, assert_shape, assert_dtype_kind, assert_function_matches."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mdl_student.checks import (
    CheckFailure,
    assert_close,
    assert_dtype_kind,
    assert_function_matches,
    assert_shape,
    concealed,
    is_concealed,
)

# -- values that must pass ------------------------------------------------------


@pytest.mark.parametrize(
    "actual, expected",
    [
        (1e-300, 0.0),  # within the default atol
        (np.inf, np.inf),
        (-np.inf, -np.inf),
        (1 + 2j, 1 + 2j),
        (3, 3.0),  # an int where a float is expected
        (3.0, 3),
        ([1, 2, 3], np.array([1.0, 2.0, 3.0])),  # a list where an array is expected
        ((1.0, 2.0), [1.0, 2.0]),
        (np.array(2.0), 2.0),  # a 0-d array
        (np.float32(0.5), 0.5),
        (np.array([[1.0, 2.0], [3.0, 4.0]]), [[1, 2], [3, 4]]),
        (1.0 + 1e-9, 1.0),  # within rtol
        (True, True),
        (np.array([True, False]), [True, False]),
        (2**70, 2**70),  # beyond int64: compared exactly
        (13432735556.0, 13432735556),  # a float answer gets the tolerance
        ((1.0, np.ones(3)), (1.0, np.ones(3))),  # a tuple of differently shaped items
        ({"W": np.eye(2), "b": 0.5}, {"W": np.eye(2), "b": 0.5}),
    ],
)
def test_equal_values_pass(actual, expected):
    assert_close(actual, expected)


def test_nan_passes_only_with_equal_nan():
    with pytest.raises(CheckFailure, match="equal_nan"):
        assert_close(np.nan, np.nan)
    assert_close([1.0, np.nan], [1.0, np.nan], equal_nan=True)


def test_torch_tensor_with_requires_grad_is_detached_and_compared():
    torch = pytest.importorskip("torch")
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    assert_close(w * 2, [2.0, 2.0, 2.0])
    assert_close(torch.ones(2, dtype=torch.bfloat16), [1.0, 1.0])
    with pytest.raises(CheckFailure, match="index"):
        assert_close(w * 3, [2.0, 2.0, 2.0])


def test_explicit_tolerances_are_used():
    assert_close(1.01, 1.0, rtol=0.02)
    with pytest.raises(CheckFailure):
        assert_close(1.01, 1.0, rtol=0.001)
    assert_close(1e-5, 0.0, atol=1e-4)


# -- values that must fail, with the message a student needs ----------------------


@pytest.mark.parametrize(
    "actual, expected, words",
    [
        (np.inf, -np.inf, "-inf"),
        (1e308, np.inf, "inf"),
        (1 + 2j, 1 - 2j, "1-2j"),
        ([1.0, np.nan], [1.0, 2.0], "NaN"),
        (13432735557, 13432735556, "exactly"),  # integer counts are exact
        (2**70 + 1, 2**70, "exactly"),
        ("abc", 2.0, "text"),
        (None, 2.0, "None"),
        (..., 2.0, "placeholder"),
        (object(), 2.0, "not a number"),
        ([[1, 2], [3]], [[1, 2], [3, 4]], "different lengths"),
        ([1, None], [1, 2], "None"),
        ({"W": 1.0}, {"W": 1.0, "b": 0.0}, "missing key"),
        ((1.0,), (1.0, np.ones(2)), "1 items, but 2"),
    ],
)
def test_wrong_values_fail_with_a_message(actual, expected, words):
    with pytest.raises(CheckFailure) as info:
        assert_close(actual, expected)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "got, want, words",
    [
        ((3, 1), (3,), "a column vector where a flat vector was expected"),
        ((1, 3), (3,), "a row vector where a flat vector was expected"),
        ((3,), (3, 1), "a flat vector where a column vector was expected"),
        ((2, 3), (3, 2), "did you transpose?"),
        ((1,), (), "a single number was expected"),
        ((), (2,), "a single number where an array was expected"),
        ((2, 6), (3, 4), "different arrangement"),
    ],
)
def test_shape_is_checked_first_with_a_hint(got, want, words):
    with pytest.raises(CheckFailure) as info:
        assert_close(np.zeros(got), np.zeros(want))
    message = str(info.value)
    assert words in message
    assert str(got) in message and str(want) in message


def test_visible_mismatch_names_index_values_and_errors():
    with pytest.raises(CheckFailure) as info:
        assert_close([1.0, 2.5, 3.0], [1.0, 2.0, 3.0])
    message = str(info.value)
    assert "index (1,)" in message
    assert "2.5" in message and "2.0" in message
    assert "max abs error 0.5" in message and "max rel error 0.25" in message


def test_visible_mismatch_diagnoses_sign_factor_and_transpose():
    with pytest.raises(CheckFailure, match="sign error"):
        assert_close([-1.0, -2.0], [1.0, 2.0])
    with pytest.raises(CheckFailure, match="2 times"):
        assert_close([2.0, 4.0], [1.0, 2.0])
    with pytest.raises(CheckFailure, match="transpose"):
        assert_close([[1.0, 2.0], [3.0, 4.0]], [[1.0, 3.0], [2.0, 4.0]])


def test_concealed_mismatch_never_shows_the_expected_value():
    expected = [1.0, 0.8123, 3.0]
    with concealed():
        assert is_concealed()
        with pytest.raises(CheckFailure) as info:
            assert_close([1.0, 2.5, 3.0], expected)
    message = str(info.value)
    assert not is_concealed()
    assert "index (1,)" in message and "relative error" in message
    assert repr(0.8123) not in message and "0.812" not in message
    with concealed(), pytest.raises(CheckFailure) as info:
        assert_close(1.2, 0.8123)
    assert repr(0.8123) not in str(info.value)


def test_concealed_mismatch_still_shows_shapes():
    with concealed(), pytest.raises(CheckFailure, match="did you transpose"):
        assert_close(np.zeros((2, 3)), np.ones((3, 2)))


def test_expected_value_that_is_not_a_number_is_a_test_error_not_a_student_failure():
    with pytest.raises(TypeError):
        assert_close(1.0, "one")


# -- shapes and dtypes ------------------------------------------------------------


def test_assert_shape_accepts_wildcards_and_tensors():
    assert_shape(np.zeros((4, 3)), (None, 3))
    assert_shape([[1, 2, 3]], (1, 3))
    with pytest.raises(CheckFailure, match="did you transpose"):
        assert_shape(np.zeros((4, 3)), (3, 4))
    with pytest.raises(CheckFailure, match="any"):
        assert_shape(np.zeros((4, 2)), (None, 3))


def test_assert_dtype_kind_names_both_kinds():
    assert_dtype_kind(np.zeros(3), "f")
    assert_dtype_kind(3, "iu")
    assert_dtype_kind(np.array([True]), "b")
    with pytest.raises(CheckFailure) as info:
        assert_dtype_kind(np.zeros(3, dtype=int), "f")
    assert "int64" in str(info.value) and "floating point" in str(info.value)


# -- student functions --------------------------------------------------------------


def _make_matrix_and_vector(rng):
    return rng.standard_normal((3, 4)), rng.standard_normal(4)


def _reference(M, v):
    return M @ v


def test_function_matches_passes_for_a_correct_function():
    assert_function_matches(lambda M, v: M @ v, _reference, _make_matrix_and_vector)
    assert_function_matches(lambda a, k=2: a * k, lambda a, k=2: a * k,
                            lambda rng: {"a": rng.standard_normal(3), "k": 3.5})
    assert_function_matches(lambda a: (a.sum(), 2 * a), lambda a: (a.sum(), 2 * a),
                            lambda rng: rng.standard_normal(3))


def test_function_mismatch_names_the_trial_and_shapes():
    with pytest.raises(CheckFailure) as info:
        assert_function_matches(lambda M, v: (M @ v)[:2], _reference, _make_matrix_and_vector)
    message = str(info.value)
    assert "trial 1 of 5" in message
    assert "(3, 4)" in message and "shape (2,)" in message


def test_function_that_raises_is_reported_with_type_and_text():
    def broken(M, v):
        raise ValueError(f"bad input {M[0, 0]:.6f}")

    with pytest.raises(CheckFailure) as info:
        assert_function_matches(broken, _reference, _make_matrix_and_vector)
    assert "ValueError: bad input" in str(info.value)
    # Concealed: the text could echo hidden inputs, so only the type is named.
    with concealed(), pytest.raises(CheckFailure) as info:
        assert_function_matches(broken, _reference, _make_matrix_and_vector)
    assert "ValueError" in str(info.value) and "bad input" not in str(info.value)


def test_concealed_function_mismatch_hides_inputs_and_expected_values():
    def scalar_inputs(rng):
        return (float(rng.uniform(1, 2)),)

    inputs = scalar_inputs(np.random.default_rng(0))
    with concealed(), pytest.raises(CheckFailure) as info:
        assert_function_matches(lambda t: t + 1, lambda t: t * 3, scalar_inputs)
    message = str(info.value)
    assert f"{inputs[0]:.4f}"[:5] not in message
    assert f"{3 * inputs[0]:.4f}"[:5] not in message


def test_student_mutating_its_inputs_does_not_change_the_reference():
    def mutating(M, v):
        M[:] = 0.0
        return M @ v

    with pytest.raises(CheckFailure) as info:
        assert_function_matches(mutating, _reference, _make_matrix_and_vector, n=1)
    assert "yours 0.0" in str(info.value)  # the reference saw the original M


# -- import cost ---------------------------------------------------------------------


def test_import_does_not_pull_in_sympy_or_torch():
    code = ("import sys, mdl_student.checks; "
            "print('sympy' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
