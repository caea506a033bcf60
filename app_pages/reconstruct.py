"""Reconstruct, the landing page: a picture, a mask drawn on it, the MAE's fill-in and whether it drew
the hidden corners as the other shape.

The panels, the editing and the model's forward pass run in the visitor's browser
(``app_pages/components/reconstruct_panels``, docs/browser.md): this script picks the model and the
picture, and keeps the URL in step with the state the browser sends back. ``?engine=server``, or a
browser that cannot run the model, gets the panels drawn here instead, by the CLI's own call.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from app_pages.components.reconstruct_panels import load_model, reconstruct_panels
from app_pages.sidebar import require_model
from toymae.app import reconstruct_browser as rb
from toymae.app.explore import PICTURE_TYPES, image_from_bytes, make_shape
from toymae.app.tour import TRY_THIS
from toymae.config import SHAPE_NAMES
from toymae.data import make_generator, sample

st.title("Reconstruct", anchor=False)
st.markdown(
    "A toy **masked autoencoder** fills in the hidden patches of a picture of a circle or a square. "
    "Ziming Liu's blog found that it sometimes **hallucinates** (draws a hidden square corner round, or "
    "a circle square) and that a linear probe on its encoder depends on the **mask ratio** and the "
    "**decoder depth**: the **Hallucinations** and **Representations** pages measure both; **Train** "
    "and **Reproduce** rebuild the blog's models and tables.  \n"
    ":material/arrow_forward: Try " + " · ".join(f"[{t.label}]({t.href()})" for t in TRY_THIS)
)
choice = require_model()
cfg = choice.checkpoint.train_config
grid, side = cfg.model.grid_size, cfg.model.image_size
# The editor state: the session's (as the browser last sent it), else the URL's; validated either way.
state = rb.EditorState.from_params(st.session_state.get("rc_state") or st.query_params.to_dict(), grid, side)
st.session_state["rc_state"] = state.as_dict()
for k, v in state.to_params().items():  # the address bar holds what the panels show
    if v is None and k in st.query_params:
        del st.query_params[k]
    elif v is not None and st.query_params.get(k) != v:
        st.query_params[k] = v


def _on_edit() -> None:
    sent = st.session_state["reconstruct_panels"].get("edit")
    if isinstance(sent, dict):  # the visitor's input: validated like a URL
        st.session_state["rc_state"] = rb.EditorState.from_params(sent, grid, side).as_dict()


def _on_engine() -> None:
    st.session_state["rc_engine"] = str(st.session_state["reconstruct_panels"].get("engine"))


def _randomise_image() -> None:
    seed = int(np.random.SeedSequence().generate_state(1)[0] % 100_000)  # a fresh seed, not the global RNG
    b = sample(1, cfg.data, make_generator(seed, "dashboard"))
    st.session_state.update(
        shape=SHAPE_NAMES[int(b.shape[0])], x=round(float(b.cx[0]), 2), y=round(float(b.cy[0]), 2)
    )


with st.sidebar:  # the picture is chosen here; the mask is edited on the panels
    st.markdown("### Image")
    source = st.segmented_control(
        "Image", ["ShapeWorld", "Upload"], default="ShapeWorld", key="src", bind="query-params"
    )
    shape = None
    if source == "Upload":
        up = st.file_uploader("A picture", type=PICTURE_TYPES, key="picture")
        loaded = None
        if up is not None:
            try:
                loaded = image_from_bytes(up.getvalue(), side)
                st.caption(f"Your picture was {loaded.note}.")
            except ValueError as e:
                st.error(str(e))
    else:
        st.radio("Shape", SHAPE_NAMES, key="shape", horizontal=True, bind="query-params")
        st.slider("Centre x", 0.0, 1.0, 0.5, 0.01, key="x", bind="query-params")
        st.slider("Centre y", 0.0, 1.0, 0.5, 0.01, key="y", bind="query-params")
        st.button("Random image", icon=":material/casino:", on_click=_randomise_image)
        shape = make_shape(st.session_state["shape"], st.session_state["x"], st.session_state["y"], cfg.data)
if source == "Upload" and loaded is None:
    st.info("Upload a picture (one light shape on a dark background, or the other way round) in the sidebar.")
    st.stop()
image = shape.images if shape is not None else loaded.image

engine = st.session_state.get("rc_engine")
if engine is None and st.query_params.get("engine") == "server":
    engine = "asked for by ?engine=server"
if engine is None:
    model_id, weights = rb.model_bytes(choice.checkpoint.model)
    with st.sidebar:
        load_model(weights)
    image_key = f"{source}:{hashlib.sha1(rb.bits(image).encode()).hexdigest()[:12]}"
    reconstruct_panels(
        rb.panels_data(model_id, cfg.data, grid, image, image_key, shape, state), _on_edit, _on_engine
    )
else:  # the server's panels for the state in the address bar (no editing: that needs the browser)
    st.info(f"The server drew these panels ({engine}). Editing the mask needs the in-browser panels.")
    panels, verdict, counts = rb.server_panels(choice.checkpoint.model, image, shape, state)
    st.image(panels, caption=["original", "masked", "reconstruction", "reconstruction + visible"], width=200)
    st.markdown(verdict)
    st.caption(counts)
if shape is not None and (cli := rb.cli_command(choice.name, shape, state)) is not None:
    st.caption(f"The same in a terminal: `{cli}`")
