"""MODULE:FUNCTION and input files: every user mistake is one clear line (UsageError)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift._cli._inputs import InputFile, UsageError, load_function


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with a module and a package, as the current directory; sys.path and modules restored after."""
    (tmp_path / "jobs_mod.py").write_text("def double(x):\n    return 2 * x\nVALUE = 3\n")
    pkg = tmp_path / "pkg_mod"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "inner.py").write_text("class K:\n    @staticmethod\n    def triple(x):\n        return 3 * x\n")
    (tmp_path / "broken_mod.py").write_text("import nothing_like_this_exists\n")
    (tmp_path / "raising_mod.py").write_text("x = 1\nraise RuntimeError('boom at import')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_dotted_module_from_the_current_directory(project: Path) -> None:
    assert load_function("jobs_mod:double")(4) == 8
    assert load_function("pkg_mod.inner:K.triple")(2) == 6


def test_path_to_a_py_file(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "file_job.py").write_text("def neg(x):\n    return -x\n")
    os.chdir("/")
    assert load_function(f"{other}/file_job.py:neg")(5) == -5
    assert str(other) in sys.path  # worker processes get the parent's sys.path


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "expected MODULE:FUNCTION"),
        ("jobs_mod:", "expected MODULE:FUNCTION"),
        ("missing_mod_xyz:f", "cannot import module 'missing_mod_xyz'"),
        ("jobs_mod:nope", "has no function 'nope' (its functions: double)"),
        ("jobs_mod:VALUE", "is not a function (it is int 3)"),
        ("./missing.py:f", "no such file"),
        ("broken_mod:f", "importing 'broken_mod' failed: No module named 'nothing_like_this_exists'"),
        ("raising_mod:f", "RuntimeError: boom at import ("),
    ],
)
def test_mistakes_are_one_clear_line(project: Path, spec: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        load_function(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_jsonl_items_and_count(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('1\n{"a": [1, 2]}\n\n"text"\nnull\n')
    source = InputFile(path)
    assert source.scan() == 4  # the blank line is skipped
    assert list(source) == [1, {"a": [1, 2]}, "text", None]


def test_plain_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"alpha\r\n\nbeta gamma\nlast")
    source = InputFile(path, lines=True)
    assert source.scan() == 4
    assert list(source) == ["alpha", "", "beta gamma", "last"]


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(1) + "\n" + json.dumps(2) + "\n{oops\n")
    with pytest.raises(UsageError, match=r"bad.jsonl, line 3: not valid JSON .*--lines"):
        InputFile(path).scan()


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bin.txt"
    path.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(UsageError, match="line 2: not UTF-8"):
        InputFile(path, lines=True).scan()


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read input .*No such file"):
        InputFile(tmp_path / "nope.jsonl").scan()
    with pytest.raises(UsageError, match="cannot read input"):
        InputFile(tmp_path).scan()  # a directory


def test_identity_changes_with_the_content(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("1\n")
    first = InputFile(path).identity()
    path.write_text("1\n2\n")
    assert InputFile(path).identity()["size"] != first["size"]
