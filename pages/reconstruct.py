"""Reconstruct: pick or draw an image, hide patches (slider or drawn mask), watch the MAE fill them in."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from pages._shared import enter_page, require_model
from toymae import figures, masks
from toymae.data import SHAPE_NAMES, counterfactual, make_generator, sample
from toymae.explore import image_from_bytes, make_shape, reconstruct_one, uncertainty_map
from toymae.hallucination import score_reconstructions
from toymae.images import masked_display

enter_page()
st.title("Reconstruct")
choice = require_model()
model, cfg = choice.checkpoint.model, choice.checkpoint.train_config
side, grid = cfg.model.image_size, cfg.model.grid_size


# ---------------------------------------------------------------- image
def _randomise_image() -> None:
    seed = int(np.random.SeedSequence().generate_state(1)[0] % 100_000)  # a fresh seed, not the global RNG
    b = sample(1, cfg.data, make_generator(seed, "dashboard"))
    st.session_state.update(
        shape=SHAPE_NAMES[int(b.shape[0])], x=round(float(b.cx[0]), 2), y=round(float(b.cy[0]), 2)
    )


def _grid_key(name: str) -> str:
    """A clickable grid's widget key. It changes after every edit: the new chart starts with no
    selection, so clicking the patch just toggled toggles it back (plotly would read that second
    click as "deselect" and send nothing)."""
    return f"{name}_{st.session_state.get(f'{name}_version', 0)}"


def _renew_grid(name: str) -> None:
    st.session_state[f"{name}_version"] = st.session_state.get(f"{name}_version", 0) + 1


def _grid_tool(key: str) -> str:
    """How clicks on a grid select cells: one per click, or all under a dragged box."""
    tool = st.segmented_control(
        "Flip cells by",
        ["Click", "Box"],
        default="Click",
        key=key,
        bind="query-params",
        help="Click: each click flips one cell. Box: drag a box; every cell under it flips.",
    )
    return "box" if tool == "Box" else "click"


left, right = st.columns([1, 2], gap="large")
with left:
    st.markdown("#### Image")
    source = st.segmented_control(
        "Image source", ["ShapeWorld", "Draw", "Upload"], default="ShapeWorld", key="src", bind="query-params"
    )
    batch = None
    if source == "Upload":
        up = st.file_uploader("A picture (PNG or JPEG)", type=["png", "jpg", "jpeg"], key="picture")
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

        def _draw_event() -> None:
            picked = masks.selected_indices(st.session_state.get(_grid_key("draw_grid")))
            if picked:
                st.session_state["drawing"] = masks.toggle(st.session_state["drawing"], picked)
                st.query_params["img"] = masks.to_text(st.session_state["drawing"])
                _renew_grid("draw_grid")

        tool = _grid_tool("draw_tool")
        st.plotly_chart(
            figures.mask_grid(
                ~st.session_state["drawing"], st.session_state["drawing"].astype(float), height=300, tool=tool
            ),
            key=_grid_key("draw_grid"),
            on_select=_draw_event,
            selection_mode=("points", "box"),
            config={"displayModeBar": False},
        )
        c1, c2 = st.columns(2)
        if c1.button("Clear drawing", width="stretch"):
            st.session_state["drawing"] = np.zeros((side, side), dtype=bool)
            st.query_params["img"] = masks.to_text(st.session_state["drawing"])
            st.rerun()
        if c2.button("Start from a circle", width="stretch"):
            st.session_state["drawing"] = make_shape("circle", 0.5, 0.5, cfg.data).images[0, 0].numpy() > 0.5
            st.query_params["img"] = masks.to_text(st.session_state["drawing"])
            st.rerun()
        image = torch.from_numpy(st.session_state["drawing"].astype(np.float32))[None, None]
    else:
        st.radio("Shape", SHAPE_NAMES, key="shape", horizontal=True, bind="query-params")
        st.slider("Centre x", 0.0, 1.0, 0.5, 0.01, key="x", bind="query-params")
        st.slider("Centre y", 0.0, 1.0, 0.5, 0.01, key="y", bind="query-params")
        st.button("🎲 Random image", on_click=_randomise_image)
        batch = make_shape(st.session_state["shape"], st.session_state["x"], st.session_state["y"], cfg.data)
        image = batch.images

    # ------------------------------------------------------------ mask
    st.markdown("#### Mask")
    mode = st.segmented_control(
        "Mask", ["Random", "Draw"], default="Random", key="mask_mode", bind="query-params"
    )
    if mode == "Draw":
        grid_mask = st.session_state.get("mask_grid_bits")
        if grid_mask is None or grid_mask.shape != (grid, grid):
            grid_mask = masks.from_text(st.query_params.get("mask", ""), grid)
            if grid_mask is None:
                grid_mask = masks.preset_mask("random", grid, ratio=cfg.model.mask_ratio, seed=0)
            st.session_state["mask_grid_bits"] = grid_mask

        def _set_mask(m: np.ndarray) -> None:
            st.session_state["mask_grid_bits"] = m
            st.query_params["mask"] = masks.to_text(m)

        def _grid_event() -> None:
            picked = masks.selected_indices(st.session_state.get(_grid_key("mask_grid")))
            if picked:
                _set_mask(masks.toggle(st.session_state["mask_grid_bits"], picked))
                _renew_grid("mask_grid")

        def _preset(name: str) -> None:
            seed = int(st.session_state.get("preset_seed", 0)) + 1
            st.session_state["preset_seed"] = seed
            _set_mask(
                masks.preset_mask(
                    name, grid, st.session_state["mask_grid_bits"], ratio=cfg.model.mask_ratio, seed=seed
                )
            )

        tool = _grid_tool("mask_tool")
        st.caption("Dark = hidden.")
        st.plotly_chart(
            figures.mask_grid(st.session_state["mask_grid_bits"], image[0, 0].numpy(), height=300, tool=tool),
            key=_grid_key("mask_grid"),
            on_select=_grid_event,
            selection_mode=("points", "box"),
            config={"displayModeBar": False},
        )
        cols = st.columns(4)
        for i, name in enumerate(masks.PRESETS):
            cols[i % 4].button(name, key=f"preset_{name}", on_click=_preset, args=(name,), width="stretch")
        user_mask = st.session_state["mask_grid_bits"]
        ratio = float(user_mask.mean())
        st.caption(f"{int(user_mask.sum())} of {grid * grid} patches hidden ({ratio:.0%}).")
    else:
        user_mask = None
        ratio = st.slider("Mask ratio", 0.0, 0.95, 0.6, 0.05, key="ratio", bind="query-params")
        c1, c2 = st.columns([2, 1])
        c1.number_input("Mask seed", 0, 1_000_000, 0, key="mseed", bind="query-params")
        c2.button("Reseed", on_click=lambda: st.session_state.update(mseed=st.session_state["mseed"] + 1))
        if abs(ratio - cfg.model.mask_ratio) > 0.051:
            st.caption(
                f"This model was trained at ratio {cfg.model.mask_ratio:g}; far from it, toymae models "
                "reconstruct markedly worse (see the README's hallucination table)."
            )

# ---------------------------------------------------------------- panels
with right:
    rec = reconstruct_one(model, image, user_mask, ratio, int(st.session_state.get("mseed", 0)))
    masked = masked_display(rec)
    st.plotly_chart(
        figures.image_panels(
            [
                rec.images[0, 0],
                masked[0, 0],
                rec.reconstruction[0, 0].clamp(0, 1),
                rec.pasted[0, 0].clamp(0, 1),
            ],
            ["original", "masked", "reconstruction", "reconstruction + visible"],
        ),
        key="panels",
    )
    m1, m2, m3 = st.columns(3)
    m1.metric("Loss on hidden patches", f"{rec.loss:.4f}")
    m2.metric("Hidden patches", f"{int(rec.mask.sum())} / {grid * grid}")
    if batch is not None:
        h = score_reconstructions(
            batch.images, counterfactual(batch), rec.reconstruction, rec.pixel_mask, cfg.model.patch_size
        )
        other = SHAPE_NAMES[1 - int(batch.shape[0])]
        if bool(h.decidable[0]):
            verdict = "hallucinated" if bool(h.hallucinated[0]) else "faithful"
            m3.metric(f"Drawn as a {other} (score)", f"{float(h.score[0]):.2f}", verdict, delta_color="off")
        else:
            m3.metric(
                f"Drawn as a {other} (score)",
                "undecidable",
                "too few hidden corner pixels",
                delta_color="off",
            )

    e1, e2 = st.columns(2)
    err = rec.patch_error[0].reshape(grid, grid).numpy()
    err = np.where(rec.mask[0].reshape(grid, grid).numpy() > 0.5, err, np.nan)
    e1.plotly_chart(figures.patch_heatmap(err, "per-patch error (hidden patches)"), key="err")
    k = 16
    unc_ratio = ratio if user_mask is None else float(user_mask.mean())
    unc = uncertainty_map(model, image, min(unc_ratio, 0.95), k=k, seed=int(st.session_state.get("mseed", 0)))
    e2.plotly_chart(
        figures.patch_heatmap(unc, f"uncertainty: pixel std over {k} random masks at ratio {unc_ratio:.2f}"),
        key="unc",
    )
