"""AppTest: every page renders, and the main controls change what is shown."""

import re
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from toymae.app.catalog import load_manifest, load_results

pytestmark = pytest.mark.skipif(not load_manifest(), reason="no shipped checkpoints in checkpoints/")
APP = Path(__file__).resolve().parents[2] / "app.py"
PAGES = ["reconstruct", "hallucinations", "representations", "train", "reproduce"]


def app(page: str | None = None, **query) -> AppTest:
    """An app session opened at ``page`` with the URL's query parameters, run once."""
    at = AppTest.from_file(str(APP), default_timeout=300)
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


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(page):
    at = app(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value


def test_mask_ratio_changes_the_reconstruction():
    """On the server's panels (``engine=server``; the browser's are in test_browser*.py)."""
    before = hidden_line(app(engine="server"))
    at = app(engine="server", ratio="0.9")
    assert not at.exception
    assert hidden(at) == f"{64 - int(64 * (1 - 0.9))} / 64"
    assert before.split("loss")[1] != hidden_line(at).split("loss")[1]  # the loss changed too


def test_url_restores_model_ratio_seed_and_shape():
    at = app(ratio="0.75", mseed="3", shape="circle", x="0.3", model="ratio0.6-dec4")
    assert at.session_state["rc_state"]["ratio"] == 0.75  # the in-browser panels start from these
    assert at.session_state["rc_state"]["mseed"] == 3
    assert at.radio(key="shape").value == "circle"
    assert at.slider(key="x").value == 0.3
    assert at.selectbox(key="model").value == "ratio0.6-dec4"


def test_a_drawn_mask_in_the_url_is_the_mask_shown():
    at = app(engine="server", mask_mode="Draw", mask="ffffffff00000000")  # the top half
    assert not at.exception
    assert hidden(at) == "32 / 64"
    assert at.query_params["mask"] in ("ffffffff00000000", ["ffffffff00000000"])


def test_hallucination_page_shows_three_shares_beside_the_blind_decoder_and_reacts_to_ratio():
    at = app("hallucinations")
    assert not at.exception, [e.value for e in at.exception]
    shares = {m.label: m for m in at.metric}
    for label in ("faithful", "hallucinated", "uncertain"):
        assert shares[f"{label} (balanced)"].delta.startswith("blind decoder ")  # a baseline, not a change
    before = shares["hallucinated (balanced)"].value
    at.slider(key="h_ratio").set_value(0.9).run()
    assert not at.exception and metric(at, "hallucinated (balanced)") != before


def test_a_gallery_image_opens_in_reconstruct_under_its_mask():
    at = app("hallucinations", model="ratio0.6-dec2", h_label="hallucinated", h_page="2")
    assert at.query_params["h_page"] in ("2", ["2"])  # a page past the worst 8
    first = next(b for b in at.button if (b.key or "").startswith("open_"))
    first.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Reconstruct"
    shown = {k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}
    assert shown["model"] == "ratio0.6-dec2" and shown["mask_mode"] == "Draw"
    assert at.session_state["rc_state"]["mask"] == shown["mask"]  # the panels start from this mask


def _recorded(data: str, cell: tuple[float, int], protocol: str, key: str) -> tuple[dict, dict, dict]:
    study = next(
        r["study"] for r in load_results()["datasets"][data] if (r["mask_ratio"], r["decoder_depth"]) == cell
    )
    if key not in study["trained"].get(protocol, {}) or "n_all_cv" not in study["trained"][protocol]:
        pytest.skip("checkpoints/results.json predates the study's CV and standardised probes")
    return tuple(study[w][protocol][key] for w in ("trained", "random_init", "delta"))


def test_eight_sessions_at_once_do_not_leak_state():
    ratios = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    out: dict[float, str] = {}
    errors: list[str] = []

    def session(r: float) -> None:
        try:
            at = app(ratio=str(r), engine="server")
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


def test_magic_is_off_so_concurrent_sessions_never_call_ast_parse():
    # Python 3.11's ast.parse is not thread-safe (cpython gh-106905): with magic on, sessions whose
    # scripts compiled at once failed with "AST constructor recursion depth mismatch".
    import tomllib
    from pathlib import Path

    cfg = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["magicEnabled"] is False


def test_visitors_see_no_traceback_with_the_servers_paths():
    # Streamlit's default shows every visitor an exception's traceback (server paths included).
    import tomllib
    from pathlib import Path

    cfg = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] == "none"


def test_representations_compare_two_models_beside_their_random_init():
    cells = [(0.6, 1), (0.9, 2)]
    recorded = [_recorded("default", cell, "visible", "n16") for cell in cells]
    at = app(
        "representations",
        rep_a="ratio0.6-dec1",
        rep_b="ratio0.9-dec2",
        rep_protocol="visible",
        rep_labels="16",
    )
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["rep_a"] in ("ratio0.6-dec1", ["ratio0.6-dec1"])  # models always in the URL
    lists = [m.value for m in at.markdown if m.value.startswith("- shape, 16 labels:")]
    assert len(lists) == 2
    for shown, (trained, baseline, _) in zip(lists, recorded, strict=True):
        first = shown.splitlines()[0]
        assert (
            f"**{trained['mean']:.3f}** ± {trained['ci95']:.3f} · random init {baseline['mean']:.3f}" in first
        )
        assert "PCA-2, raw" in shown and "PCA-2, standardised" in shown


@pytest.mark.parametrize("data", sorted((load_results() or {}).get("datasets", {})))
def test_reproduce_page_shows_each_datasets_sweep_and_every_verdict(data):
    at = app("reproduce", r_data=data)
    assert not at.exception, [e.value for e in at.exception]
    results = load_results()
    runs = [r for r in results["runs"] if r["cell"].get("dataset", "default") == data]
    assert any(f"{len(runs)} jobs on `{data}`" in c.value for c in at.caption)
    if not any("state" in v for v in results.get("verdicts", [])):
        pytest.skip("checkpoints/results.json predates the paired three-state verdicts")
    # The verdict matrix has a column per dataset and protocol, whichever dataset is shown above it,
    # and every cell says its state and the paired difference it turned on.
    matrix = at.dataframe[0].value
    assert {c.split(" · ")[0] for c in matrix.columns if " · " in c} == set(results["datasets"])
    cells = [v for c in matrix.columns if " · " in c for v in matrix[c] if v != "—"]
    # A one-seed difference has no interval, and then the verdict can only be inconclusive.
    assert cells and all(v[:1] in "✓✗?" and ("[" in v or v.startswith("?")) for v in cells)


def test_a_link_sets_up_the_train_form_and_says_what_it_set():
    at = app("train", data="varied", decoder_depth="4", decoder_embed_dim="64", steps="99999", bogus="1")
    assert not at.exception
    note = next(i.value for i in at.info if "Settings from this link" in i.value)
    assert "decoder width 64" in note and "decoder depth 4" in note and "dataset varied" in note
    assert "steps" not in note  # out of range: the preset's steps stay
    assert at.session_state["t_decoder_embed_dim"] == 64 and at.session_state["t_data"] == "varied"
    assert at.session_state["t_steps"] == 3200
    assert not at.button(key="start").disabled  # a valid run, ready to start
