from __future__ import annotations

import pytest

from graphrun.agents.code_review.inputs import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_THRESHOLD,
    MAX_CODE_BYTES,
    ReviewInputError,
    current_code,
    normalize_max_iterations,
    normalize_threshold,
    original_code,
    read_inputs,
    read_iteration,
    safe_filename,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, DEFAULT_THRESHOLD), (0, 0.0), (0.75, 0.75), (1, 1.0), (75, 0.75), (100, 1.0)],
)
def test_threshold_is_a_fraction_and_values_above_one_are_percentages(
    given: float | None, expected: float
) -> None:
    assert normalize_threshold(given) == pytest.approx(expected)


@pytest.mark.parametrize("bad", [-0.1, 101, float("nan"), "0.9", True, [0.9]])
def test_a_bad_threshold_is_refused_naming_the_key(bad: object) -> None:
    with pytest.raises(ReviewInputError, match="quality_threshold"):
        normalize_threshold(bad)


def test_max_iterations_defaults_and_bounds() -> None:
    assert normalize_max_iterations(None) == DEFAULT_MAX_ITERATIONS
    assert normalize_max_iterations(3) == 3
    assert normalize_max_iterations(4.0) == 4
    for bad in (0, 31, 2.5, "3", False):
        with pytest.raises(ReviewInputError, match="max_iterations"):
            normalize_max_iterations(bad)


def test_iteration_starts_at_zero_and_must_be_a_count() -> None:
    assert read_iteration({}) == 0
    assert read_iteration({"iteration": 3}) == 3
    with pytest.raises(ReviewInputError, match="iteration"):
        read_iteration({"iteration": -1})


def test_code_comes_from_code_then_raw_code() -> None:
    assert original_code({"raw_code": "x = 1\n"}) == "x = 1\n"
    assert original_code({"code": "a = 1\n", "raw_code": "b = 2\n"}) == "a = 1\n"
    with pytest.raises(ReviewInputError, match=r"needs 'code' \(or 'raw_code'\)"):
        original_code({})
    with pytest.raises(ReviewInputError, match="'code' must be a string"):
        original_code({"code": 42})


def test_the_loop_reads_the_latest_version() -> None:
    state = {"code": "old = 1\n", "improved_code": "new = 1\n"}
    assert current_code(state) == "new = 1\n"
    assert original_code(state) == "old = 1\n"


def test_code_over_the_size_cap_is_refused_with_the_sizes() -> None:
    code = "#" * (MAX_CODE_BYTES + 1)
    with pytest.raises(ReviewInputError, match=r"code is 200,001 bytes; .* at most 200,000"):
        original_code({"code": code})
    # The cap counts UTF-8 bytes, not characters.
    with pytest.raises(ReviewInputError, match="bytes"):
        original_code({"code": "é" * (MAX_CODE_BYTES // 2 + 1)})
    assert original_code({"code": "#" * MAX_CODE_BYTES}) == "#" * MAX_CODE_BYTES


def test_text_that_is_not_encodable_is_refused() -> None:
    with pytest.raises(ReviewInputError, match="not valid Unicode text at position 5"):
        original_code({"code": "x = '\ud800'"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "snippet.py"),
        ("", "snippet.py"),
        ("shop/cart.py", "cart.py"),
        ("../../etc/passwd", "passwd.py"),
        ("C:\\work\\a b.py", "a_b.py"),
        ("stubs.pyi", "stubs.pyi"),
        (".hidden.py", "hidden.py"),
    ],
)
def test_filenames_are_reduced_to_a_safe_base_name(given: str | None, expected: str) -> None:
    assert safe_filename(given) == expected


def test_read_inputs_normalizes_everything() -> None:
    inputs = read_inputs({"raw_code": "x = 1\n", "quality_threshold": 75, "iteration": 2})
    assert inputs.code == "x = 1\n"
    assert inputs.quality_threshold == pytest.approx(0.75)
    assert inputs.max_iterations == DEFAULT_MAX_ITERATIONS
    assert inputs.iteration == 2
    assert inputs.filename == "snippet.py"
