from __future__ import annotations

from typing import Any

import pytest

from ._corpus import EXPECTED, SNIPPETS, snippet


@pytest.fixture(params=SNIPPETS)
def case(request: pytest.FixtureRequest) -> tuple[str, str, dict[str, Any]]:
    """``(name, code, expected)`` for every snippet of the corpus."""
    name = request.param
    return name, snippet(name), EXPECTED[name]
