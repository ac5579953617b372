"""Numeric checks: assert_close, assert_shape, assert_dtype_kind, assert_function_matches."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import sympy as sp

from mdl_student.checks import (
    CheckFailure,
    UnreadableAnswer,
    assert_close,
    assert_dtype_kind,
    assert_exact,
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


# -- float32 is a correct answer (the fairness standard) -------------------------------


def _affine_float32(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """beta + Omega X computed in float32, and the same in float64."""
    di, do, n = (int(k) for k in rng.integers(1, 6, size=3))
    beta, omega, x = rng.normal(size=do), rng.normal(size=(do, di)), rng.normal(size=(di, n))
    as32 = [v.astype(np.float32) for v in (beta, omega, x)]
    return as32[0][:, None] + as32[1] @ as32[2], beta[:, None] + omega @ x


def test_float32_answers_pass_the_default_tolerance():
    rng = np.random.default_rng(0)
    for _ in range(200):  # entries that cancel to near zero included (atol 1e-6)
        got32, want = _affine_float32(rng)
        assert got32.dtype == np.float32
        assert_close(got32, want)
        assert_close(got32.tolist(), want)  # a list of Python floats holding float32 values
    assert_close(float(np.float32(1) / np.float32(3)), 1 / 3)  # a scalar from float32, as tensor.item() gives


def test_float32_torch_tensor_passes_the_default_tolerance():
    torch = pytest.importorskip("torch")
    x = torch.linspace(-3, 3, 7)  # float32, torch's default
    assert_close(torch.sigmoid(x), 1 / (1 + np.exp(-np.linspace(-3, 3, 7))))


def test_default_tolerance_still_catches_real_errors():
    with pytest.raises(CheckFailure, match="1e-05"):
        assert_close(1.0001, 1.0)  # relative error 1e-4
    with pytest.raises(CheckFailure):
        assert_close(np.float32(0.5) + np.float32(1e-3), 0.5)
    with pytest.raises(CheckFailure, match="1e-06"):
        assert_close([0.5, 2e-6], [0.5, 0.0])  # near zero, the absolute tolerance 1e-6 decides
    assert_close(3e-7, 0.0)
    with pytest.raises(CheckFailure):
        assert_close(3e-7, 0.0, atol=1e-9)  # a test about tiny numbers passes its own atol


# -- assert_exact: integers, whatever kind of integer ------------------------------------


@pytest.mark.parametrize("actual, expected", [
    (7, 7),
    (np.int64(7), 7),
    (sp.Integer(7), 7),
    (7.0, 7),  # a float that holds the very integer
    (sp.Integer(259898394708950956), 259898394708950956),
    (2**70, 2**70),
    ([(20, 5), (10, 20)], [(20, 5), (10, 20)]),  # a list of shapes
    ([[20, 5], [10, 20]], [(20, 5), (10, 20)]),  # shapes as lists
    (np.array([3, 4]), [3, 4]),
])
def test_assert_exact_accepts_every_kind_of_integer(actual, expected):
    assert_exact(actual, expected)


def test_assert_exact_refuses_a_count_computed_in_floats():
    wrong = float(259898394708950956)  # the nearest float is another integer
    with pytest.raises(CheckFailure) as info:
        assert_exact(wrong, 259898394708950956, name="n_linear_regions(20, 70)")
    message = str(info.value)
    assert "n_linear_regions(20, 70)" in message and "2**53" in message and "259898394708950956" in message
    with concealed(), pytest.raises(CheckFailure) as info:
        assert_exact(wrong, 259898394708950956)
    assert "259898394708950956" not in str(info.value) and "2**53" in str(info.value)


@pytest.mark.parametrize("actual, expected, words", [
    (8, 7, "is 8, but the expected value is 7"),
    (7.5, 7, "7.5"),
    (None, 7, "is None"),
    ([20, 10], [(20,), (10,)], "shape"),
])
def test_assert_exact_failures_say_what_is_wrong(actual, expected, words):
    with pytest.raises(CheckFailure) as info:
        assert_exact(actual, expected)
    assert words in str(info.value)


def test_assert_exact_is_for_integers_only():
    with pytest.raises(TypeError, match="integers"):
        assert_exact(0.5, 0.5)


# -- an answer that could not reach the grader says why -------------------------------------


def test_unreadable_answer_fails_every_check_and_every_use_with_its_reason():
    import copy

    answer = UnreadableAnswer("y_example", "numpy arrays of Python objects cannot be graded")
    reason = "`y_example` could not be read by the grader: numpy arrays of Python objects"
    uses = [
        lambda: assert_close(answer, [1.0, 2.0]),
        lambda: assert_shape(answer, (2,)),
        lambda: assert_exact(answer, 2),
        lambda: assert_dtype_kind(answer, "f"),
        lambda: len(answer),
        lambda: answer == 3,
        lambda: answer[0],
        lambda: answer.shape,
        lambda: float(answer),
        lambda: answer + 1,
    ]
    for use in uses:
        with pytest.raises(CheckFailure, match="could not be read by the grader"):
            use()
    with pytest.raises(CheckFailure) as info:
        assert_close(answer, [1.0, 2.0])
    assert str(info.value).startswith(reason)
    assert reason in repr(answer) and reason in repr(copy.deepcopy(answer))


def test_the_bridge_hands_tests_an_unreadable_answer_not_none():
    from autograder.bridge import environment

    class FakeKernel:
        def lookup(self, names):
            return {"y": {"kind": "error", "error": "`y`: numpy arrays of Python objects cannot be graded"},
                    "z": {"kind": "value", "value": {"$no-such-tag": 1}}}

    env, problems = environment(FakeKernel(), ["y", "z", "w"])  # type: ignore[arg-type]
    assert isinstance(env["y"], UnreadableAnswer) and isinstance(env["z"], UnreadableAnswer)
    assert env["w"] is None and "not defined" in problems["w"]
    with pytest.raises(CheckFailure, match="^`y` could not be read by the grader: numpy arrays"):
        assert_close(env["y"], [1.0])


# -- float32 at large inputs, and numbers of every type (issue 21) ------------------------------


def _entropy64(logits):
    """Entropy of softmax(logits) along the last axis, stably in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(np.exp(log_p) * log_p).sum(axis=-1)


def _entropy32(logits):
    """The same, computed stably in float32, as a student with torch's defaults would."""
    z = np.asarray(logits, dtype=np.float32)
    z = z - z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(np.exp(log_p) * log_p).sum(axis=-1)


def _large_logits(rng):
    # logits of several hundred that differ by a few units (A7 q7): every class keeps some probability
    return (rng.uniform(300, 600, size=(4, 1)) + 2 * rng.normal(size=(4, 12)),)


def test_a_stable_float32_entropy_at_large_logits_passes_assert_function_matches():
    """A7 q7 lost points: float32 rounds logits of 500 by about 3e-5, so no float32 entropy could meet atol 1e-6."""
    logits = _large_logits(np.random.default_rng(8))[0]  # off by 1.7e-5 in float32
    with pytest.raises(CheckFailure):  # the fixed tolerance: what failed before
        assert_close(_entropy32(logits), _entropy64(logits))
    assert_close(_entropy32(logits), _entropy64(logits), input_scale=np.abs(logits).max())
    assert_function_matches(_entropy32, _entropy64, _large_logits, n=10, seed=1)  # scaled by the inputs by default
    with pytest.raises(CheckFailure):
        assert_function_matches(_entropy32, _entropy64, _large_logits, n=10, seed=1, input_scale=None)


def test_a_tolerance_scaled_by_the_inputs_still_catches_slips():
    log2_entropy = lambda logits: _entropy64(logits) / np.log(2)  # noqa: E731  (bits instead of nats)
    missing_max = lambda logits: _entropy64(logits) + 1e-2  # noqa: E731  (a small additive slip)
    for wrong in (log2_entropy, missing_max):
        with pytest.raises(CheckFailure):
            assert_function_matches(wrong, _entropy64, lambda rng: (rng.normal(size=(4, 12)) * 30,), n=5)
    with pytest.raises(CheckFailure):  # an explicit atol is the test's own choice: not scaled unless asked
        assert_function_matches(_entropy32, _entropy64, _large_logits, n=10, seed=1, atol=1e-6)
    with pytest.raises(CheckFailure):  # small inputs: never looser than the default
        assert_close(1e-5, 0.0, input_scale=0.01)
    assert_exact(np.int64(7), 7)  # integers stay exact


@pytest.mark.parametrize("actual, expected", [
    (__import__("fractions").Fraction(1, 3), 1 / 3),
    (__import__("decimal").Decimal("0.25"), 0.25),
    ([__import__("fractions").Fraction(1, 2), sp.Rational(3, 4)], [0.5, 0.75]),
    (np.array([__import__("fractions").Fraction(1, 2), sp.Rational(3, 4)], dtype=object), [0.5, 0.75]),
])
def test_fractions_decimals_and_object_arrays_of_numbers_are_numbers(actual, expected):
    """A6 q8 lost points: a Fraction passed the visible test in the kernel and was refused by the bridge."""
    assert_close(actual, expected)


def test_a_fraction_is_an_exact_integer_only_when_it_is_one():
    from fractions import Fraction

    assert_exact(Fraction(12, 3), 4)
    with pytest.raises(CheckFailure, match="3.5"):
        assert_exact(Fraction(7, 2), 3)
    assert_dtype_kind(Fraction(1, 3), "f")
    with pytest.raises(CheckFailure, match="differs|is 0.5"):
        assert_close(Fraction(1, 2), 0.25)
