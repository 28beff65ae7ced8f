"""The README's Python example runs as written (with fewer epochs)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0].replace("range(20)", "range(6)"), str(README), "exec"), namespace)  # noqa: S102
    assert namespace["loss"].item() > 0
