"""Reconstruct, the landing page: an image, a mask drawn on the picture itself, the MAE's fill-in and
whether it drew the hidden corners as the other shape, all on one screen."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from app_pages._shared import require_model
from toymae import masks
from toymae.app import figures
from toymae.app.explore import image_from_bytes, make_shape
from toymae.app.images import masked_display
from toymae.app.reconstruct_view import reconstruct_view
from toymae.app.tour import TRY_THIS
from toymae.data import SHAPE_NAMES, make_generator, sample

PANEL_HEIGHT = 236  # four square panels in a row of a 1366 px window, with the controls above them
BADGES = {  # verdict label -> (colour, icon)
    "faithful": ("green", ":material/check_circle:"),
    "hallucinated": ("red", ":material/report:"),
    "undecidable": ("gray", ":material/help:"),
}

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
model, cfg = choice.checkpoint.model, choice.checkpoint.train_config
side, grid = cfg.model.image_size, cfg.model.grid_size


# ---------------------------------------------------------------- editing on the panels
def _chart_key(name: str) -> str:
    """An editable panel's widget key. It changes after every edit: the new chart starts with no
    selection, so clicking the cell just flipped flips it back (plotly would read that second click
    as "deselect" and send nothing)."""
    return f"{name}_{st.session_state.get(f'{name}_version', 0)}"


def _edited(name: str, cells: np.ndarray) -> np.ndarray | None:
    """``cells`` after the selection the panel ``name`` just sent; None if it selected nothing."""
    selection = st.session_state.get(_chart_key(name))
    if not masks.selected_indices(selection):
        return None
    st.session_state[f"{name}_version"] = st.session_state.get(f"{name}_version", 0) + 1
    return masks.apply_selection(cells, selection, reveal=bool(st.session_state.get("reveal", False)))


def _set_drawing(d: np.ndarray) -> None:
    st.session_state["drawing"] = d
    st.query_params["img"] = masks.to_text(d)


def _set_mask(m: np.ndarray) -> None:
    st.session_state["mask_grid_bits"] = m
    st.query_params["mask"] = masks.to_text(m)


def _drawing_event() -> None:
    new = _edited("draw_panel", st.session_state["drawing"])
    if new is not None:
        _set_drawing(new)


def _mask_event() -> None:
    """An edit on the masked panel. Under a random mask it starts a drawn mask from that mask."""
    new = _edited("mask_panel", st.session_state["shown_mask"])
    if new is not None:
        st.session_state["mask_mode"] = "Draw"
        _set_mask(new)


def _preset(name: str) -> None:
    seed = int(st.session_state.get("preset_seed", 0)) + 1
    st.session_state["preset_seed"] = seed
    _set_mask(
        masks.preset_mask(name, grid, st.session_state["shown_mask"], ratio=cfg.model.mask_ratio, seed=seed)
    )


def _start_drawing(shape: str | None) -> None:
    if shape is None:
        _set_drawing(np.zeros((side, side), dtype=bool))
    else:
        _set_drawing(make_shape(shape, 0.5, 0.5, cfg.data).images[0, 0].numpy() > 0.5)


def _randomise_image() -> None:
    seed = int(np.random.SeedSequence().generate_state(1)[0] % 100_000)  # a fresh seed, not the global RNG
    b = sample(1, cfg.data, make_generator(seed, "dashboard"))
    st.session_state.update(
        shape=SHAPE_NAMES[int(b.shape[0])], x=round(float(b.cx[0]), 2), y=round(float(b.cy[0]), 2)
    )


# ---------------------------------------------------------------- controls, above their panels
c_img, c_mask, c_tool = st.columns([1.15, 1, 1.1])
with c_img:
    source = st.segmented_control(
        "Image", ["ShapeWorld", "Draw", "Upload"], default="ShapeWorld", key="src", bind="query-params"
    )
with c_mask:
    mode = st.segmented_control(
        "Mask", ["Random", "Draw"], default="Random", key="mask_mode", bind="query-params"
    )
with c_tool:
    tool = st.segmented_control(
        "Edit on the pictures by",
        ["Click", "Box", "Lasso"],  # plain words: a bound control's URL value is its label
        default="Click",
        key="tool",
        bind="query-params",
        help="Click: flip one patch of the masked picture (or one pixel of a drawn image). "
        "Box / Lasso: drag over a region to hide it (or fill it with ink).",
    )
    tool = (tool or "Click").lower()

batch = None
with c_img:
    if source == "Upload":
        up = st.file_uploader(
            "A picture (PNG or JPEG)",
            type=["png", "jpg", "jpeg"],
            key="picture",
            label_visibility="collapsed",
        )
        if up is None:
            st.info("Upload a picture of one light shape on a dark background (or the other way round).")
            st.stop()
        try:
            loaded = image_from_bytes(up.getvalue(), side)
        except ValueError as e:
            st.error(str(e))
            st.stop()
        image = loaded.image
        st.caption(f"Your picture was {loaded.note}.")
    elif source == "Draw":
        drawing = st.session_state.get("drawing")
        if drawing is None or drawing.shape != (side, side):
            drawing = masks.from_text(st.query_params.get("img", ""), side)
            if drawing is None:
                drawing = make_shape("square", 0.5, 0.5, cfg.data).images[0, 0].numpy() > 0.5
            st.session_state["drawing"] = drawing
        starts = (
            ("Circle", "circle", "circle"),
            ("Square", "square", "square"),
            ("Clear", "ink_eraser", None),
        )
        for col, (label, icon, shape) in zip(st.columns(3), starts, strict=True):
            col.button(
                label,
                icon=f":material/{icon}:",
                on_click=_start_drawing,
                args=(shape,),
                help=f"Start from {'a ' + shape if shape else 'nothing'}",
            )
        image = torch.from_numpy(st.session_state["drawing"].astype(np.float32))[None, None]
    else:
        st.radio(
            "Shape",
            SHAPE_NAMES,
            key="shape",
            horizontal=True,
            bind="query-params",
            label_visibility="collapsed",
        )
        with st.sidebar:
            st.markdown("### Image")
            st.slider("Centre x", 0.0, 1.0, 0.5, 0.01, key="x", bind="query-params")
            st.slider("Centre y", 0.0, 1.0, 0.5, 0.01, key="y", bind="query-params")
            st.button("Random image", icon=":material/casino:", on_click=_randomise_image)
        batch = make_shape(st.session_state["shape"], st.session_state["x"], st.session_state["y"], cfg.data)
        image = batch.images

with c_mask:
    if mode == "Draw":
        user_mask = st.session_state.get("mask_grid_bits")
        if user_mask is None or user_mask.shape != (grid, grid):
            user_mask = masks.from_text(st.query_params.get("mask", ""), grid)
            if user_mask is None:
                user_mask = masks.preset_mask("random", grid, ratio=cfg.model.mask_ratio, seed=0)
            st.session_state["mask_grid_bits"] = user_mask
        with st.popover("Presets", icon=":material/grid_view:"):
            cols = st.columns(2)
            for i, name in enumerate(masks.PRESETS):
                cols[i % 2].button(
                    name, key=f"preset_{name}", on_click=_preset, args=(name,), width="stretch"
                )
        ratio = float(user_mask.mean())
    else:
        user_mask = None
        ratio = st.slider(
            "Mask ratio", 0.0, 0.95, 0.6, 0.05, key="ratio", bind="query-params", label_visibility="collapsed"
        )
with c_tool:
    st.toggle(
        "Drag reveals / erases",
        key="reveal",
        help="Off: a box or lasso hides patches (fills pixels). On: it shows patches (erases pixels).",
    )
with st.sidebar:
    if mode != "Draw":
        st.markdown("### Mask")
        c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
        c1.number_input("Mask seed", 0, 1_000_000, 0, key="mseed", bind="query-params")
        c2.button(
            "Reseed",
            icon=":material/refresh:",
            help="Another random mask",
            on_click=lambda: st.session_state.update(mseed=st.session_state["mseed"] + 1),
        )

# ---------------------------------------------------------------- the four panels
view = reconstruct_view(
    model, image, mask=user_mask, mask_ratio=ratio, seed=int(st.session_state.get("mseed", 0)), shape=batch
)
rec, shown_mask = view.rec, view.hidden
st.session_state["shown_mask"] = shown_mask  # what an edit on the masked panel starts from
masked = masked_display(rec)
drawn = source == "Draw"
panel_specs = (  # picture, title, editable grid, widget key, selection callback
    (rec.images, "original" + (" (click or drag to draw)" if drawn else ""), side if drawn else None,
     _chart_key("draw_panel") if drawn else "original_panel", _drawing_event if drawn else "ignore"),
    (masked, "masked", grid, _chart_key("mask_panel"), _mask_event),
    (rec.reconstruction, "reconstruction", None, "reconstruction_panel", "ignore"),
    (rec.pasted, "reconstruction + visible", None, "pasted_panel", "ignore"),
)  # fmt: skip
for col, (picture, title, edit_grid, key, on_select) in zip(st.columns(4), panel_specs, strict=True):
    col.plotly_chart(
        figures.image_panel(
            picture[0, 0].clamp(0, 1).numpy(), title, edit_grid, tool if edit_grid else "click", PANEL_HEIGHT
        ),
        key=key,
        on_select=on_select,
        selection_mode=("points", "box", "lasso"),
        config={"displayModeBar": False},
    )

# ---------------------------------------------------------------- the verdict
verdict = view.verdict
colour, icon = BADGES[verdict.label]
score = "" if verdict.score is None else f" **score {verdict.score:.2f}** (over 0.5 = hallucinated) ·"
st.markdown(f"**Verdict** :{colour}-badge[{icon} {verdict.label}]{score} {verdict.reason}")
n_hidden = view.n_hidden
st.caption(
    f"**{n_hidden} of {grid * grid} patches hidden** ({n_hidden / (grid * grid):.0%}) · "
    f"loss on hidden patches {rec.loss:.4f}"
    + (
        f" · this model was trained at ratio {cfg.model.mask_ratio:g}; far from it, toymae models "
        "reconstruct markedly worse"
        if user_mask is None and abs(ratio - cfg.model.mask_ratio) > 0.051
        else ""
    )
)

# ---------------------------------------------------------------- below the fold: where it went wrong
st.markdown("#### Where the reconstruction is wrong or unsure")
e1, e2 = st.columns(2)
e1.plotly_chart(
    figures.patch_heatmap(view.patch_error, "per-patch error (hidden patches)", hidden=shown_mask), key="err"
)
k = view.uncertainty_masks
title = f"uncertainty: pixel spread over {k} random masks at ratio {view.mask_ratio:.2f}"
e2.plotly_chart(figures.patch_heatmap(view.uncertainty, title, hidden=shown_mask), key="unc")
st.caption(
    "Grey = a patch visible under this mask: its pixels are copied from the input, so it has no error "
    "or uncertainty to show. Uncertainty is the standard deviation of 'reconstruction + visible' over "
    f"{k} random masks at the same ratio, shown on the patches hidden here."
)
