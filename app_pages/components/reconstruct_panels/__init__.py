"""The Reconstruct page's panels as Streamlit custom components (components v2: no iframe).

Two components: ``load_model`` sends a model's weights as bytes (once per model: Streamlit re-sends a
component's data only when it changes), and ``reconstruct_panels`` draws the panels, runs the model's
forward pass in the browser and sends the edited state back. Their sources sit beside this file:
``mae.js`` (the forward pass, masks and verdict; no DOM) is prepended to ``panels.js`` (the UI), since
a component's inline module cannot import a sibling file. docs/browser.md explains the choices.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

HERE = Path(__file__).resolve().parent


def _source(*names: str) -> str:
    return "\n".join((HERE / name).read_text(encoding="utf-8") for name in names)


_loader = st.components.v2.component("toymae.model_loader", js=_source("loader.js"))
_panels = st.components.v2.component(
    "toymae.reconstruct_panels",
    html=_source("panels.html"),
    css=_source("panels.css"),
    js=_source("mae.js", "panels.js"),
)


def load_model(model_bytes: bytes) -> None:
    """Hand the browser a model (``toymae.app.reconstruct_browser.model_bytes``); it renders nothing."""
    _loader(key="toymae_model_bytes", data=model_bytes)


def reconstruct_panels(
    data: dict[str, Any], on_edit: Callable[[], None], on_engine: Callable[[], None]
) -> Any:
    """Mount the panels with ``data`` (``reconstruct_browser.panels_data``). ``on_edit`` runs when the
    browser sends an edited state (``st.session_state["reconstruct_panels"]["edit"]``), ``on_engine``
    when it reports that it cannot run the model (``...["engine"]``, a reason in words)."""
    return _panels(key="reconstruct_panels", data=data, on_edit_change=on_edit, on_engine_change=on_engine)
