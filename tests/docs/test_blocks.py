"""Every code block of docs/ is well formed: each Python block compiles, and
each doc-test marker names a known action and sits right above a block."""

from __future__ import annotations

import ast

import pytest

from tests.docs.snippets import ACTIONS, ROOT, blocks, pages

PYTHON_BLOCKS = [block for page in pages() for block in blocks(page) if block.lang == "python"]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda block: block.where)
def test_python_block_compiles(block):
    # Top-level await is allowed: a block may show a line of async code.
    compile("\n" * (block.line - 1) + block.source, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_markers_name_an_action_and_stand_above_a_block(page):
    marked = [block for block in blocks(page) if block.action is not None]
    assert len(marked) == page.read_text(encoding="utf-8").count("<!-- doc-test:"), (
        "a doc-test marker must be the line right above a code fence")
    for block in marked:
        assert block.action in ACTIONS, f"{block.where}: unknown action {block.action!r}"
        if block.action in ("file", "append"):
            assert len(block.args) == 1, f"{block.where}: {block.action} takes one path"
        if block.action == "skip":
            assert block.args, f"{block.where}: say why the block is not run"
        if block.action in ("file", "append", "python"):
            assert block.lang == "python", f"{block.where}: {block.action} needs a python block"
        if block.action == "run":
            assert block.lang == "bash", f"{block.where}: run needs a bash block"
