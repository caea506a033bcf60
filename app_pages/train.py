"""Train: choose hyperparameters, train live in a background thread, keep or download the model.

The run belongs to the server, not to the tab: its id is in the URL (``?run=``), so a reload, or
anyone given the link, finds its progress and controls again; the finished model joins every
session's picker and this page's download list until the server restarts.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import streamlit as st

from app_pages._shared import TRAINED_HERE
from toymae.app import figures
from toymae.app.training_server import MAX_KEPT, MAX_STEPS, BackgroundRun, server_slot
from toymae.data import DATASETS, dataset
from toymae.model import MAEConfig
from toymae.train import TrainConfig

st.title("Train")

slot = server_slot()  # one per server: a second user sees who is training instead of halving everyone's speed
owner = st.session_state.setdefault("owner_id", uuid.uuid4().hex[:8])


def _follow(run: BackgroundRun) -> None:
    """This session watches ``run``; the URL carries its id so a reload or a shared link finds it."""
    st.session_state["my_run_id"] = run.run_id
    if st.query_params.get("run") != run.run_id:
        st.query_params["run"] = run.run_id


run_id = st.query_params.get("run") or st.session_state.get("my_run_id")
mine = slot.get(run_id)
if mine is not None:
    _follow(mine)
elif run_id:
    st.info("The training run in this link is no longer on this server (a restarted server starts empty).")
    st.session_state.pop("my_run_id", None)
    st.query_params.pop("run", None)

with st.form("hyper"):
    st.markdown("#### Hyperparameters")
    c1, c2, c3, c4 = st.columns(4)
    mask_ratio = c1.slider("Mask ratio", 0.1, 0.9, 0.6, 0.05, key="t_ratio", bind="query-params")
    decoder_depth = c2.slider("Decoder depth", 1, 4, 1, key="t_dec", bind="query-params")
    depth = c3.slider("Encoder depth", 1, 6, 4, key="t_enc", bind="query-params")
    steps = c4.number_input("Steps", 50, MAX_STEPS, 600, 50, key="t_steps", bind="query-params")
    d1, d2, d3, d4 = st.columns(4)
    embed_dim = d1.selectbox("Encoder width", [64, 128, 192], index=1, key="t_width", bind="query-params")
    lr = d2.select_slider(
        "Learning rate", [5e-4, 1e-3, 2e-3, 4e-3], value=2e-3, key="t_lr", bind="query-params"
    )
    image_size = d3.selectbox(
        "Image / patch", ["32 / 4", "32 / 2", "64 / 4"], key="t_img", bind="query-params"
    )
    seed = d4.number_input("Seed", 0, 10_000, 0, key="t_seed", bind="query-params")
    data_name = st.selectbox(
        "Dataset",
        list(DATASETS),
        key="t_data",
        bind="query-params",
        help="default: the blog's (one size, axis-aligned squares). varied: sizes 0.25–0.6 of the image "
        "and rotated squares, so pixel area tells the shapes apart no longer.",
    )
    submitted = st.form_submit_button("Start training", type="primary")

if submitted:
    size, patch = (int(x) for x in image_size.split(" / "))
    model_cfg = replace(
        MAEConfig(),
        image_size=size,
        patch_size=patch,
        mask_ratio=mask_ratio,
        decoder_depth=decoder_depth,
        depth=depth,
        embed_dim=embed_dim,
    )
    config = TrainConfig(
        model=model_cfg,
        data=dataset(data_name or "default", image_size=size),
        steps=int(steps),
        lr=lr,
        seed=int(seed),
        eval_every=max(50, int(steps) // 6),
        eval_size=256,
    )
    if mine is not None and not mine.finished:
        st.warning("This run is still going: stop it first.")
    else:
        run = slot.claim(config, owner)
        if run is None:
            st.error(
                "The server is busy with another user's training run (one at a time). Try again shortly."
            )
        else:
            mine = run
            _follow(run)

other = slot.active()
if other is not None and (mine is None or other.run_id != mine.run_id):
    p = other.progress
    st.info(
        f"Another session is training ({p.step}/{p.total} steps, {p.state}). New runs wait until it "
        f"ends; its model will then appear in everyone's model picker."
    )


@st.fragment(run_every=1.0)
def live_view(run_id: str | None) -> None:
    run = slot.get(run_id)
    if run is None:
        st.caption("Pick hyperparameters and press **Start training**: the page stays usable while it runs.")
        return
    p = run.progress
    st.progress(
        p.step / max(1, p.total), text=f"{p.state} · step {p.step}/{p.total} · {p.images_per_s:.0f} img/s"
    )
    b1, b2, _ = st.columns([1, 1, 4])
    if p.state == "running" and b1.button("Pause", key="pause"):
        run.pause()
        st.rerun(scope="fragment")
    if p.state == "paused" and b1.button("Resume", key="resume"):
        run.resume()
        st.rerun(scope="fragment")
    if not run.finished and b2.button("Stop", key="stop"):
        run.stop()
        st.rerun(scope="fragment")
    if not run.finished:
        st.caption(
            "This run belongs to the server: reload the page or share its link (the URL has its id) "
            "and it is still here, with these controls."
        )
    if p.error:
        st.error(f"Training failed: {p.error}")
    left, right = st.columns([3, 2])
    left.plotly_chart(figures.loss_curve(p.steps, p.losses, p.evals), key="curve")
    if p.preview:
        n = len(p.preview) // 2
        right.plotly_chart(
            figures.image_panels(p.preview[:n], [f"#{i}" for i in range(n)], height=150),
            key="prev_orig",
        )
        right.plotly_chart(
            figures.image_panels(p.preview[n:], [f"step {p.preview_step}"] * n, height=150),
            key="prev_rec",
        )
    if p.evals:
        last = p.evals[-1]
        e1, e2, e3 = right.columns(3)
        e1.metric("probe acc", f"{last['probe_acc']:.3f}")
        e2.metric("PCA-2 acc", f"{last['pca2_acc']:.3f}")
        e3.metric("held-out loss", f"{last['held_out_loss']:.4f}")
    result = run.result
    if run.finished and result is not None:
        if st.session_state.get("kept") != run.run_id:
            st.session_state["kept"] = run.run_id
            st.toast(f"{result.name} joined the model picker.")
            st.rerun()  # the whole page, so the sidebar's picker lists the new model
        st.success(f"**{result.name}** is in every session's model picker ({TRAINED_HERE}).")
        st.download_button(
            "Download checkpoint (.safetensors)",
            data=result.data,
            file_name=f"{result.name}.safetensors",
            mime="application/octet-stream",
            key="download",
        )


live_view(mine.run_id if mine is not None else None)

kept = slot.models()
if kept:
    st.markdown(f"#### Models {TRAINED_HERE}")
    st.caption(
        f"Every session can pick these in the sidebar and download them here. They are kept in memory "
        f"until the server restarts (the latest {MAX_KEPT}): download one to keep it."
    )
    for name, m in reversed(kept.items()):
        c1, c2 = st.columns([3, 1])
        steps_done = m.checkpoint.summary.get("steps", "?")
        c1.text(f"{name} · {steps_done} steps")
        c2.download_button(
            "Download",
            data=m.data,
            file_name=f"{name}.safetensors",
            mime="application/octet-stream",
            key=f"download_{name}",
        )
