"""The README stays true: its settings table is the Settings class, its examples run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from graphrun.engine import spec
from graphrun.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `(GRAPHRUN_[A-Z_]+)` \| ([^|]+) \|", README, re.M))
    expected = {f"GRAPHRUN_{name.upper()}" for name in Settings.model_fields}
    assert set(rows) == expected
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = rows[f"GRAPHRUN_{name.upper()}"].strip()
        if default is None:
            assert shown == "unset"
        elif default == []:
            assert shown == "`[]`"
        else:
            assert shown == f"`{default}`", name


def test_the_python_examples_run() -> None:
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        exec(compile(block, "README.md", "exec"), {})


def test_the_yaml_spec_example_loads_and_runs() -> None:
    block = re.findall(r"```yaml\n(.*?)```", README, re.S)[0]
    result = spec.load(yaml.safe_load(block)).compile().invoke({})
    assert result.status.value == "completed"
    assert result.state["count"] == 3
