"""bench/schedule_length.py: the cell it trains, what it measures, and its rule."""

from dataclasses import replace

from bench.schedule_length import candidates, cell_config, train_and_score
from bench.time_to_quality import CELL
from toymae.reproduce.sweep import base_config


def test_only_the_schedule_length_and_seed_differ_from_time_to_qualitys_cell():
    config = cell_config(2000, seed=2)
    base = base_config()
    assert (config.steps, config.seed) == (2000, 2)
    assert {"mask_ratio": config.model.mask_ratio, "decoder_depth": config.model.decoder_depth} == CELL
    assert config.model == replace(base.model, **CELL)
    assert replace(config, model=base.model, steps=base.steps, seed=base.seed) == base
    assert cell_config(2000, seed=0, lr=0.008) == replace(cell_config(2000, seed=0), lr=0.008)
    assert cell_config(1600, seed=0, batch_size=128) == replace(cell_config(1600, seed=0), batch_size=128)
    assert cell_config(1600, seed=0).batch_size == base.batch_size


def test_a_length_is_a_candidate_only_when_every_seed_reaches_the_target():
    rows = [
        {"steps": 2000, "held_out_loss": 0.0110},
        {"steps": 2000, "held_out_loss": 0.0120},
        {"steps": 2400, "held_out_loss": 0.0110},
        {"steps": 2400, "held_out_loss": 0.0115},  # exactly the target reaches it
    ]
    assert candidates(rows, target=0.0115) == {2000: False, 2400: True}


def test_train_and_score_trains_the_whole_schedule_and_scores_the_held_out_loss():
    short, longer = (train_and_score(cell_config(steps, seed=0)) for steps in (2, 40))
    assert (short["steps"], short["seed"], longer["steps"]) == (2, 0, 40)
    assert 0 < longer["held_out_loss"] < short["held_out_loss"]  # it trained
    assert longer["seconds"] > short["seconds"] > 0
