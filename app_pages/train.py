"""Train: a preset (the shipped recipe first), trained live in a child process; keep or download it.

The run belongs to the server, not the tab: its id is in the URL (``?run=``). Logic: toymae.app.train_form
and toymae.app.training_server."""

from __future__ import annotations

import uuid

import streamlit as st

from app_pages.models import TRAINED_HERE
from toymae.app import train_form as tf
from toymae.app.training_server import server_slot

st.title("Train")
slot = server_slot()  # one per server: a second user sees who is training instead of halving everyone's speed
owner = st.session_state.setdefault("owner_id", uuid.uuid4().hex[:8])
st.session_state.setdefault("settled", None)  # the finished run this session has redrawn the page for
run_id = st.query_params.get("run") or st.session_state.get("my_run_id")
watched = slot.get(run_id)
if watched is None and run_id:
    st.info("The training run in this link is no longer on this server (a restarted server starts empty).")
    st.session_state.pop("my_run_id", None)
    st.query_params.pop("run", None)


def fill_form(preset: str | None = None) -> None:
    config = tf.preset_config(preset or st.session_state.t_preset, st.session_state.get("t_data", "default"))
    st.session_state.update({f"t_{k}": v for k, v in tf.form_values(config).items()})


def field(col, k: str):
    if k in tf.NUMBER_RANGES:
        lo, hi = tf.NUMBER_RANGES[k]
        return col.number_input(tf.LABELS[k], lo, hi, step=50 if k == "steps" else 1, key=f"t_{k}")
    return col.selectbox(tf.LABELS[k], tf.CHOICES[k], key=f"t_{k}")


linked = tf.values_from_params(st.query_params.to_dict())  # a link's settings (a hypothesis to train)
if "t_steps" not in st.session_state:  # a session's first visit: the first preset, then the link's settings
    fill_form(tf.PRESETS[0])
    st.session_state.update({f"t_{k}": v for k, v in linked.items()})
if linked:
    st.info(tf.linked_note(linked), icon=":material/link:")
with st.container(border=True):
    preset = st.radio("Preset", tf.PRESETS, key="t_preset", horizontal=True, on_change=fill_form)
    st.caption(tf.PRESET_HELP[preset])
    with st.expander("Settings (change any: the run is then custom)", expanded=bool(linked)):
        values = {k: field(col, k) for col, k in zip(st.columns(5) + st.columns(5), tf.LABELS, strict=True)}
    config, problem = tf.checked_config(preset, values)
    problem = problem or slot.refusal(owner)
    start, why = st.columns([1, 5], vertical_alignment="center")
    if start.button("Start training", type="primary", disabled=problem is not None, key="start"):
        run = slot.claim(config, owner)
        if run is not None:
            st.session_state["my_run_id"] = st.query_params["run"] = run.run_id
            st.rerun()  # the form then shows why Start is off while the run goes
        problem = slot.refusal(owner)
    if problem:
        why.markdown(f":orange[:material/block: {problem}]")
    gone = slot.abandoned()
    if gone is not None and gone.owner != owner and why.button("End the paused run", key="end_other"):
        slot.end_abandoned(gone.run_id)
        st.rerun()
if watched is not None:
    st.session_state["my_run_id"] = st.query_params["run"] = watched.run_id  # a reload finds it
    if watched.finished and not watched.alive:
        st.session_state["settled"] = watched.run_id
st.session_state["t_busy"] = slot.active() is not None


def live_view(run_id: str | None) -> None:
    run = slot.get(run_id)
    settled_now = run is not None and run.finished and not run.alive and st.session_state.settled != run_id
    if settled_now:  # redraw the page once: Start back on, polling off, a finished model in the picker
        st.session_state.settled = run_id
    if settled_now or (st.session_state.t_busy and slot.active() is None):
        st.rerun(scope="app")
    if run is None:
        other = slot.active()
        return st.caption(tf.others_run(other.progress, other.config) if other else tf.START_HINT)
    p = run.progress
    st.progress(p.step / max(1, p.total), text=tf.status_line(p, run.config.batch_size))
    b = st.columns([1, 1, 4])  # callbacks act before the fragment redraws: one run shows their effect
    if p.state in ("starting", "running"):
        b[0].button("Pause", key="pause", on_click=run.pause)
    if p.state == "paused":
        b[0].button("Resume", key="resume", on_click=run.resume)
    if p.state in ("starting", "running", "paused"):
        b[1].button("Stop", key="stop", on_click=run.stop, args=("with the Stop button", 3.0))
    kept = run.result is not None and not run.kept and p.state == "stopped"
    if kept and b[0].button("Keep this model", key="keep", help="add it to every session's model picker"):
        slot.keep(run)
        st.rerun(scope="app")
    if run.result is not None:
        b[1].download_button("Download", run.result.data, f"{run.result.name}.safetensors", key="download")
        shared = "is in every session's model picker" if run.kept else "is yours alone until you keep it"
        b[2].caption(f"**{run.result.name}** {shared}.")
    if p.error:
        st.error(p.error)
    left, right = st.columns([3, 2])
    chart = tf.throttled_loss_points(run, st.session_state.setdefault("t_chart", {}))
    left.vega_lite_chart(chart, tf.loss_chart_spec(p.total), width="stretch")
    if p.preview is not None:
        right.image(p.preview, width="stretch")
        right.caption(tf.preview_caption(p))
    st.markdown("This run: " + tf.settings_markdown(run.config))
    if not p.finished:
        st.caption(tf.SERVER_RUN)


polling = st.session_state.t_busy or (watched is not None and st.session_state.settled != watched.run_id)
st.fragment(live_view, run_every=1.0 if polling else None)(watched.run_id if watched else None)

if models := slot.models():
    st.markdown(f"#### Models {TRAINED_HERE}")
    st.caption(tf.MODELS_NOTE)
    for name, m in reversed(models.items()):
        c1, c2 = st.columns([3, 1])
        c1.text(tf.model_label(name, m))
        c2.download_button("Download", m.data, f"{name}.safetensors", key=f"download_{name}")
