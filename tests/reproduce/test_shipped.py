"""The shipped models: they load, validate, and still score what the manifest records."""

import json

import pytest

from toymae.app.catalog import CHECKPOINT_DIR, load_manifest, load_results
from toymae.app.tour import TRY_THIS
from toymae.checkpoint import load_checkpoint
from toymae.cli import main
from toymae.data import eval_set
from toymae.probe import probe_model
from toymae.reproduce import blog_cells

MANIFEST = load_manifest()
pytestmark = pytest.mark.skipif(not MANIFEST, reason="no shipped checkpoints")


def test_one_checkpoint_per_configuration_and_small():
    by_dataset = {}
    for e in MANIFEST:
        by_dataset.setdefault(e.get("dataset", "default"), []).append(e["name"])
    assert sorted(by_dataset.pop("default")) == sorted(c.name for c in blog_cells())
    for dataset, names in by_dataset.items():  # every other dataset: all 9 configurations too
        assert sorted(names) == sorted(c.name for c in blog_cells(dataset)), names
    total = sum(p.stat().st_size for p in CHECKPOINT_DIR.iterdir())
    assert total <= 40 * 1024 * 1024, total
    results = load_results()
    made_by = ("python -m toymae reproduce", "python -m toymae.reproduce.rejudge")
    assert results is not None and results["meta"]["command"].startswith(made_by)
    assert "/work/" not in results["meta"]["command"]  # paths relative to the repository
    # Every configuration of every shipped dataset has at least 3 seeds (a claim needs 3 and a CI).
    for dataset, rows in results["datasets"].items():
        seeds = {(r["mask_ratio"], r["decoder_depth"]): len(r["seeds"]) for r in rows}
        assert len(seeds) == len(blog_cells()) and min(seeds.values()) >= 3, (dataset, seeds)
    assert set(results["datasets"]) == set(by_dataset) | {"default"}


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["name"])
def test_shipped_checkpoint_loads_and_reprobes_what_it_recorded(entry):
    ckpt = load_checkpoint(CHECKPOINT_DIR / entry["file"])
    assert json.loads(json.dumps(ckpt.train_config.to_dict())) == entry["config"]  # tuples are JSON lists
    assert ckpt.train_config.model.mask_ratio == entry["mask_ratio"]
    assert ckpt.train_config.model.decoder_depth == entry["decoder_depth"]
    # The recorded accuracy belongs to the model *and* its evaluation sets: rebuilt from the recorded
    # seed, the same sets must give it again (float16 weights and kernel changes move it by < 0.01).
    # Agreement on fresh sets is a sampling question: near-chance probes on the varied data moved by
    # up to 0.025 on data seed 1, so it is checked with the CLI's study below, not here.
    spec = entry["eval"]
    data = ckpt.train_config.data
    train = eval_set(spec["probe_train"], data, spec["data_seed"], "probe-train")
    test = eval_set(spec["probe_test"], data, spec["data_seed"], "probe-test")
    report = probe_model(ckpt.model, train, test, regressions=False)
    assert abs(report.probe_acc - entry["results"]["probe_acc"]) <= 0.01, (report.probe_acc, entry["results"])


def _entry(name: str) -> dict | None:
    return next((e for e in MANIFEST if e["name"] == name), None)


@pytest.mark.skipif(_entry("ratio0.6-dec1") is None, reason="no shipped ratio0.6-dec1 model")
def test_cli_probe_on_fresh_images_agrees_with_the_shipped_study_within_0_03(capsys):
    """The representation study is a property of the model, not of one evaluation set."""
    entry = _entry("ratio0.6-dec1")
    assert main(["probe", str(CHECKPOINT_DIR / entry["file"]), "--data-seed", "777123", "--json"]) == 0
    fresh = json.loads(capsys.readouterr().out)
    recorded = entry["study"]
    for which in ("protocols", "random_init"):
        for protocol, scores in recorded[which].items():
            for key, value in scores.items():
                if key == "cv_c" or (key.endswith("_std") and key != "pca2_std"):
                    continue  # the chosen C and the spread over label draws are not the model's numbers
                got = fresh[which][protocol][key]
                # PCA-2 moves more between evaluation sets than the probes: the basis is refit on
                # each train split. Measured when this test was first run: cls PCA-2 0.5915 on data
                # seed 777123 vs 0.5525 recorded (0.039), hence 0.05; standardised PCA-2 moved 0.051
                # (0.935 vs 0.986), hence 0.08. Near chance (both below 0.65) a 2-D projection fits
                # noise and its accuracy is no property of the model (cls pca2_std: 0.597 vs 0.5115
                # in CI); there the claim checked is only that it stays near chance.
                if key.startswith("pca2") and max(got, value) < 0.65:
                    continue
                tol = {"pca2": 0.05, "pca2_std": 0.08}.get(key, 0.03)
                assert abs(got - value) <= tol, (
                    which,
                    protocol,
                    key,
                    got,
                    value,
                )


@pytest.mark.skipif(_entry("ratio0.6-dec1") is None, reason="no shipped ratio0.6-dec1 model")
@pytest.mark.parametrize("link", [t for t in TRY_THIS if t.page == "" and "mseed" in t.params])
def test_cli_one_image_mode_gives_the_verdict_the_try_this_link_promises(link, tmp_path, capsys):
    """``reconstruct --shape`` runs the Reconstruct page's own call: the landing link's state (a
    hallucinated square corner) comes out the same from the terminal."""
    p = link.params
    entry = _entry(p["model"])
    image = ["reconstruct", str(CHECKPOINT_DIR / entry["file"]), "--shape", p["shape"]]
    image += ["--x", p["x"], "--y", p["y"]]
    random = ["--mask-ratio", p["ratio"], "--seed", p["mseed"]]
    assert main([*image, *random, "--json", "--out", str(tmp_path / "one.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == link.promise and out["score"] > 0.5
    # The printed mask, passed back as a drawn mask, reproduces the same reconstruction.
    again = [*image, "--mask", out["mask"], "--json", "--out", str(tmp_path / "two.png")]
    assert main(again) == 0
    assert json.loads(capsys.readouterr().out)["loss_hidden"] == pytest.approx(out["loss_hidden"], abs=1e-6)


@pytest.mark.skipif(_entry("ratio0.9-dec2") is None, reason="no shipped ratio0.9-dec2 model")
def test_cli_hallucinate_json_has_three_labels_per_shape_and_the_blind_baseline(capsys):
    path = str(CHECKPOINT_DIR / _entry("ratio0.9-dec2")["file"])
    assert main(["hallucinate", path, "--mask-ratio", "0.9", "--n", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "v2"
    for row in (out["labels"], *out["by_shape"].values(), out["blind"]["labels"]):
        rates = [row[k]["rate"] for k in ("faithful", "hallucinated", "uncertain")]
        assert sum(rates) == pytest.approx(1.0) and row["n_decidable"] > 0
    assert set(out["balanced"]) == {"faithful", "hallucinated", "uncertain"}
    assert out["rate"] == out["labels"]["hallucinated"]["rate"]


def test_every_listed_checkpoint_loads_and_varied_ships_every_seed():
    """Every checkpoint the manifest lists loads and is the run it names. All 3 seeds of every cell
    ship for `varied`; for `default` seed 0 ships and seeds 1-2 remain results-only records (measured
    under protocol v1 by the session that trained them: their models were not kept)."""
    manifest = json.loads((CHECKPOINT_DIR / "manifest.json").read_text())
    entries = manifest["checkpoints"] + manifest.get("seed_checkpoints", [])
    seeds: dict[tuple[str, str], set[int]] = {}
    for e in entries:
        seeds.setdefault((e["dataset"], e["name"]), set()).add(e["seed"])
        ckpt = load_checkpoint(CHECKPOINT_DIR / e["file"])
        assert ckpt.train_config.seed == e["seed"] and ckpt.train_config.model.mask_ratio == e["mask_ratio"]
    assert len(seeds) == 18
    assert all(s == {0, 1, 2} for (data, _), s in seeds.items() if data == "varied"), seeds
    assert all(0 in s for s in seeds.values())
    results = json.loads((CHECKPOINT_DIR / "results.json").read_text())
    assert len(results["runs"]) == 54
    assert {v["state"] for v in results["verdicts"]} <= {"holds", "refuted", "inconclusive"}
    assert all("diff" in v or v["claim"] == "hallucination" for v in results["verdicts"])
