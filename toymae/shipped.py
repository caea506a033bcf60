"""Where the files shipped beside the library are: the seed-0 models (``checkpoints/``) and the
dashboard (``app.py``, ``app_pages/``, ``.streamlit/``).

A source checkout has them at the repository's top level, where Streamlit Community Cloud and a
Docker Space expect ``app.py``. A wheel cannot install files outside its packages, so the build
(``setup.py``) copies the same tree into ``toymae/_bundle/``. The layout is the same in both places,
so one relative path serves both.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLE_DIR = PACKAGE_DIR / "_bundle"  # present in an installed wheel only


def shipped_root() -> Path:
    """The folder holding ``checkpoints/`` and ``app.py``: the wheel's bundle, else the checkout."""
    return BUNDLE_DIR if BUNDLE_DIR.is_dir() else PACKAGE_DIR.parent


def shipped_path(*parts: str) -> Path:
    """A shipped file or folder, e.g. ``shipped_path("checkpoints", "manifest.json")``."""
    return shipped_root().joinpath(*parts)
