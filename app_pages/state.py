"""Widget state that lives in the address bar, so a copied address reopens what is on screen.

Selectors whose default is fixed bind themselves (``bind="query-params"``: Streamlit leaves a default
value out of the URL, and reopening without it shows that same default). Selectors whose default
depends on something else (the models compared on Representations default to the sidebar's model)
are written into the URL on every run by ``choose``. A link into another page from a callback (a
gallery image, a PCA point) goes through ``open_page`` and ``follow``: the target page then reads its
whole state from the URL, as a fresh tab would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from app_pages.sidebar import ensure_choice

PAGE_FILES = {  # a TryThis's page (its url_path) -> the page's file, for st.switch_page
    "": "app_pages/reconstruct.py",
    "hallucinations": "app_pages/hallucinations.py",
    "representations": "app_pages/representations.py",
    "train": "app_pages/train.py",
    "reproduce": "app_pages/reproduce.py",
}
# Reconstruct keeps the editor state the browser last sent under this key; a link must not be
# overridden by it (the URL's state wins once it is gone).
RECONSTRUCT_STATE = "rc_state"
_GOTO = "_open_page"


def choose(
    key: str, options: Sequence[str], default: str, label: str, format_func: Callable = str, **kw
) -> str:
    """A selectbox whose value is always in the URL (``?key=``), even when it is the default: its
    default depends on other state, so leaving it out would reopen something else."""
    ensure_choice(key, list(options), default)
    value = st.selectbox(label, options, key=key, format_func=format_func, **kw)
    if st.query_params.get(key) != value:
        st.query_params[key] = value
    return value


def open_page(page: str, params: dict[str, str]) -> None:
    """A widget callback: open ``page`` with ``params`` as its whole URL state on this run (the page
    script calls ``follow`` first). The sidebar's model is set here, before its picker is drawn; the
    target's own state is dropped so that its widgets read the URL."""
    if "model" in params:
        st.session_state["model"] = params["model"]
    for key in params:
        if key != "model":
            st.session_state.pop(key, None)
    st.session_state.pop(RECONSTRUCT_STATE, None)
    st.session_state[_GOTO] = (PAGE_FILES[page], dict(params))


def follow() -> None:
    """Carry out a link a callback asked for (``open_page``); call it first on a page with such links."""
    if _GOTO in st.session_state:
        page, params = st.session_state.pop(_GOTO)
        st.switch_page(page, query_params=params)
