"""Sphinx configuration of the gearshift documentation (built by ``bash docs/build.sh``)."""

from __future__ import annotations

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "src"))

import gearshift  # noqa: E402

project = "gearshift"
author = "gearshift developers"
copyright = "gearshift developers"  # noqa: A001 - Sphinx reads this name
release = gearshift.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "_tools", "cli-sessions", "results", "images", "README*"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The API reference: signatures with their type hints, documented where they are defined.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_preserve_defaults = True
# concurrent.futures.Executor.submit's docstring is not valid reStructuredText (`fn(*args **kwargs)`)
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True
# Offline builds (CI talks to 127.0.0.1 only): no inventories fetched; stdlib links stay plain text.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

# "--resume" stays two hyphens in prose and headings (no en dashes).
smartquotes = False

html_theme = "furo"
html_title = f"gearshift {release}"
html_static_path: list[str] = []
html_theme_options = {"navigation_with_keys": True}
html_show_sourcelink = False


def _hide_record_base(app: object, name: str, obj: object, options: object, bases: list[type]) -> None:
    """Plan, Profile, Failure...: dataclasses to their users; gearshift._record.Record is how they are made."""
    record = "gearshift._record.Record"
    bases[:] = [object if f"{base.__module__}.{base.__qualname__}" == record else base for base in bases]


def setup(app: object) -> None:
    app.connect("autodoc-process-bases", _hide_record_base)  # type: ignore[attr-defined]
