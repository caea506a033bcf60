"""The one private Streamlit API the dashboard uses, checked against the installed Streamlit.

``pages/_shared.py`` sets ``PagesManager.uses_pages_directory = False`` to leave the legacy multipage
mode that a ``pages/`` folder starts a fresh server in. That is what ``st.navigation`` itself does on
its first call; it only works while Streamlit keeps the class attribute and reads it when it runs a
script. If this test fails after a Streamlit upgrade, the workaround has silently stopped working:
re-check a direct link (``/hallucinations``) on a fresh server before raising the version cap in
requirements.txt and pyproject.toml.
"""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import streamlit
from packaging.requirements import Requirement
from streamlit.commands import navigation
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner

ROOT = Path(__file__).resolve().parent.parent
WRITE = "PagesManager.uses_pages_directory = False"


def test_pages_manager_still_has_the_attribute_we_write():
    assert "uses_pages_directory" in vars(PagesManager), (
        f"Streamlit {streamlit.__version__} removed PagesManager.uses_pages_directory: "
        "pages/_shared.py's exit from legacy multipage mode no longer does anything"
    )


def test_streamlit_itself_writes_and_reads_it_as_we_rely_on():
    assert WRITE in inspect.getsource(navigation), (
        f"Streamlit {streamlit.__version__}'s st.navigation no longer leaves legacy mode this way"
    )
    assert "PagesManager.uses_pages_directory" in inspect.getsource(script_runner), (
        f"Streamlit {streamlit.__version__}'s script runner no longer reads uses_pages_directory"
    )


def test_our_workaround_writes_that_attribute():
    assert WRITE in (ROOT / "pages" / "_shared.py").read_text()


def test_the_installed_streamlit_is_inside_the_pinned_range():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [Requirement(d) for d in pyproject["project"]["dependencies"] if d.startswith("streamlit")]
    requirements = [
        Requirement(line.split("#")[0])
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("streamlit")
    ]
    assert len(pins) == len(requirements) == 1
    assert pins[0].specifier == requirements[0].specifier and "99" not in pins[0].specifier  # capped
    assert streamlit.__version__ in pins[0].specifier, (
        f"Streamlit {streamlit.__version__} is outside {pins[0].specifier}: run this file's checks "
        "and a direct link on a fresh server before widening the range"
    )
