"""AppTest: every page renders, and the main controls change what is shown."""

import json
import re
import threading

import pytest
from streamlit.testing.v1 import AppTest

from toymae.app.catalog import load_manifest, load_results

pytestmark = pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
PAGES = ["reconstruct", "hallucinations", "representations", "train", "reproduce"]


def app(page: str | None = None, **query) -> AppTest:
    """An app session opened at ``page`` with the URL's query parameters, run once."""
    at = AppTest.from_file("../app.py", default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page is not None:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def hidden_line(at: AppTest) -> str:
    """Reconstruct's "N of 64 patches hidden (..%) · loss on hidden patches L" line."""
    return next(c.value for c in at.caption if "patches hidden" in c.value)


def hidden(at: AppTest) -> str:
    """ "N / 64" from the hidden-patches line."""
    n, total = re.search(r"(\d+) of (\d+) patches hidden", hidden_line(at)).groups()
    return f"{n} / {total}"


def reconstruction(at: AppTest) -> list:
    """The reconstruction panel's pixels (the third of the four panels)."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(
        f["data"][0]["z"] for f in specs if f["layout"].get("title", {}).get("text") == "reconstruction"
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(page):
    at = app(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value


def test_mask_ratio_changes_the_reconstruction():
    at = app()
    before, line_before = reconstruction(at), hidden_line(at)
    at.slider(key="ratio").set_value(0.9).run()
    after = reconstruction(at)
    assert not at.exception
    assert before != after
    assert hidden(at) == f"{64 - int(64 * (1 - 0.9))} / 64"
    assert line_before.split("loss")[1] != hidden_line(at).split("loss")[1]  # the loss changed too


def test_url_restores_model_ratio_seed_and_shape():
    at = app(ratio="0.75", mseed="3", shape="circle", x="0.3", model="ratio0.6-dec4")
    assert at.slider(key="ratio").value == 0.75
    assert at.number_input(key="mseed").value == 3
    assert at.radio(key="shape").value == "circle"
    assert at.slider(key="x").value == 0.3
    assert at.selectbox(key="model").value == "ratio0.6-dec4"


def test_drawn_mask_presets_and_url():
    at = app(mask_mode="Draw")
    at.button(key="preset_left half").click().run()
    assert not at.exception
    assert hidden(at) == "32 / 64"
    assert at.query_params["mask"]  # the drawn mask is in the URL
    at.button(key="preset_invert").click().run()
    assert hidden(at) == "32 / 64"
    at.button(key="preset_clear").click().run()
    assert hidden(at) == "0 / 64"


def test_hallucination_page_reacts_to_ratio():
    at = app("hallucinations")
    a = metric(at, "Hallucination rate")
    at.slider(key="h_ratio").set_value(0.9).run()
    assert not at.exception and metric(at, "Hallucination rate") != a


def test_representations_compare_two_models_beside_their_random_init():
    at = app(
        "representations",
        rep_a="ratio0.6-dec1",
        rep_b="ratio0.9-dec2",
        rep_protocol="visible",
        rep_labels="16",
    )
    assert not at.exception, [e.value for e in at.exception]
    probes = [m for m in at.metric if m.label == "shape probe, 16 labels"]
    assert len(probes) == 2
    rows = {(r["mask_ratio"], r["decoder_depth"]): r for r in load_results()["table"]}
    for shown, cell in zip(probes, [(0.6, 1), (0.9, 2)], strict=True):
        recorded = rows[cell]["study"]["trained"]["visible"]["n16"]["mean"]
        baseline = rows[cell]["study"]["random_init"]["visible"]["n16"]["mean"]
        assert shown.value.startswith(f"{recorded:.3f}"), (shown.value, recorded)
        assert shown.delta == f"{recorded - baseline:+.3f} vs random init {baseline:.3f}"


def test_eight_sessions_at_once_do_not_leak_state():
    ratios = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    out: dict[float, str] = {}
    errors: list[str] = []

    def session(r: float) -> None:
        try:
            at = app(ratio=str(r))
            if at.exception:
                errors.append(str(at.exception[0].value))
            out[r] = hidden(at)
        except Exception as e:  # collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=session, args=(r,)) for r in ratios]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    for r in ratios:  # each session shows its own ratio's mask, not a neighbour's
        assert out[r] == f"{64 - int(64 * (1 - r))} / 64", (r, out[r])


def test_train_page_trains_live_and_adds_the_model():
    import time

    at = app("train", t_steps="50", t_width="64", t_dec="1")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception, [e.value for e in at.exception]
    deadline = time.time() + 240
    while time.time() < deadline and "kept" not in at.session_state:
        time.sleep(1.0)
        at.run()  # what the fragment's timer does in a browser
    assert "kept" in at.session_state, "the run did not finish"
    at.run()  # a plain rerun after the fragment's full-page refresh
    assert not at.exception, [e.value for e in at.exception]
    picker = at.sidebar.selectbox(key="model")
    trained = [o for o in picker.options if o.startswith("trained-0.6-dec1")]
    assert trained, picker.options


def test_magic_is_off_so_concurrent_sessions_never_call_ast_parse():
    # Python 3.11's ast.parse is not thread-safe (cpython gh-106905): with magic on, sessions whose
    # scripts compiled at once failed with "AST constructor recursion depth mismatch".
    import tomllib
    from pathlib import Path

    cfg = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["magicEnabled"] is False


@pytest.mark.parametrize("data", sorted((load_results() or {}).get("datasets", {})))
def test_reproduce_page_shows_each_datasets_sweep_and_every_verdict(data):
    at = app("reproduce", r_data=data)
    assert not at.exception, [e.value for e in at.exception]
    results = load_results()
    runs = [r for r in results["runs"] if r["cell"].get("dataset", "default") == data]
    assert any(f"{len(runs)} jobs on `{data}`" in c.value for c in at.caption)
    # The verdict matrix has a column per dataset and protocol, whichever dataset is shown above it.
    matrix = at.dataframe[0].value
    assert {c.split(" · ")[0] for c in matrix.columns if " · " in c} == set(results["datasets"])
