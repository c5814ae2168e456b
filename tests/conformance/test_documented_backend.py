"""The example backend of docs/custom-backends.md keeps the contract.

The page's two marked code blocks run here as a reader would use them: the
backend block becomes the module ``myproject.queues`` and the test block,
which imports it, defines the test class pytest collects from this module.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from symphra_django.testing import BackendContractTests

PAGE = Path(__file__).resolve().parents[2] / "docs" / "custom-backends.md"


def marked_block(text: str, marker: str) -> tuple[str, int]:
    """The Python code block after ``<!-- contract-kit: {marker}``, and the
    line it starts on (so that a traceback points into the page)."""
    fence = "```python\n"
    start = text.index(fence, text.index(f"<!-- contract-kit: {marker}")) + len(fence)
    end = text.index("\n```", start)
    return text[start:end] + "\n", text.count("\n", 0, start)


def run_block(text: str, marker: str, namespace: dict) -> None:
    source, line = marked_block(text, marker)
    exec(compile("\n" * line + source, str(PAGE), "exec"), namespace)


_page = PAGE.read_text(encoding="utf-8")
queues = types.ModuleType("myproject.queues")
run_block(_page, "example backend", queues.__dict__)
_package = types.ModuleType("myproject")
_package.queues = queues  # type: ignore[attr-defined]
_saved = {name: sys.modules.get(name) for name in ("myproject", "myproject.queues")}
sys.modules.update({"myproject": _package, "myproject.queues": queues})
try:
    run_block(_page, "example tests", globals())  # defines TestDictBackend
finally:
    for _name, _module in _saved.items():
        if _module is None:
            sys.modules.pop(_name, None)
        else:
            sys.modules[_name] = _module


def test_the_page_runs_the_kit_on_its_example_backend() -> None:
    [documented] = [
        value for name, value in globals().items()
        if name.startswith("Test") and isinstance(value, type) and issubclass(value, BackendContractTests)
    ]
    assert isinstance(documented().make_backend(), queues.DictBackend)
