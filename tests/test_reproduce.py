"""`aae reproduce`: the paper's results as one command each, on tiny settings (recorded as departures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aae_cli.checkpoint import load_checkpoint
from aae_cli.cli.reproduce import _epochs
from aae_cli.reproduce import TARGETS, target_config
from tests.conftest import one_line_error

SMALL = ["--set", "limit=300", "--set", "hidden=[64,64]", "--set", "disc_hidden=[32,32]",
         "--set", "batch_size=50"]


def run_json(aae, *args) -> dict:
    res = aae("reproduce", *args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


def test_every_paper_number_has_a_target_whose_settings_build():
    names = set(TARGETS)
    assert {"table1-parzen-10k", "table1-parzen-10m", "table2-mnist-100", "table2-mnist-1000",
            "table2-mnist-all", "table2-svhn-1000", "table3-cluster-16", "table3-cluster-30",
            "dimred-2d-100", "dimred-2d-1000", "dimred-10d-100", "curve-mnist-100"} <= names
    for t in TARGETS.values():
        cfg = target_config(t, 0)
        cfg.validate()
        assert cfg.epochs == t.settings["epochs"]
    # The appendix's recipe comes from the variant preset: A.2.1 is momentum SGD with input noise 0.3.
    cfg = target_config(TARGETS["table2-mnist-100"], 0)
    assert (cfg.optimizer, cfg.input_noise, cfg.lr_recon, cfg.labels) == ("sgd", 0.3, 0.01, "100")
    assert target_config(TARGETS["table2-svhn-1000"], 0).encoder_bn  # the SVHN preset (A.2.2)


def test_list(aae, tmp_path: Path):
    out = run_json(aae, "--list", "--runs", tmp_path)
    rows = {r["name"]: r for r in out["results"]}
    assert rows["table2-mnist-100"]["paper"].startswith("1.90")
    assert rows["table2-mnist-100"]["seeds"] == [0, 1, 2]  # the paper reports a spread
    assert rows["table1-parzen-10k"]["paper_epochs"] is None  # A.1 does not say


def test_semi_trains_scores_continues_and_records(aae, tmp_path: Path):
    args = ["table2-mnist-100", "--seeds", "0", "--epochs", "1", "--runs", tmp_path, *SMALL]
    first = run_json(aae, *args)
    assert first["paper_value"] == 1.90 and first["epochs"] == 1 and first["fewer_epochs_than_paper"]
    assert first["departures"]["limit"] == 300
    (row,) = first["runs"]
    ck_path = Path(row["checkpoint"])
    assert ck_path.parent == tmp_path and ck_path.name.startswith("table2-mnist-100-s0-")  # own file
    ck = load_checkpoint(ck_path)
    assert ck.config["labels"] == "100" and ck.config["optimizer"] == "sgd"
    assert row["value"] == pytest.approx(ck.history[-1]["test_error"])  # the protocol's test error
    assert 0 <= row["value"] <= 100 and row["label_seed"] == 0 and row["minibatches"] == 0
    assert row["recent"]["n"] == 1 and row["recent"]["mean"] == pytest.approx(ck.history[-1]["test_error"])

    again = run_json(aae, *args)  # the same command again: nothing to train, same number
    assert again["runs"][0]["value"] == row["value"] and again["epochs"] == 1
    longer = run_json(aae, "table2-mnist-100", "--seeds", "0", "--epochs", "2", "--runs", tmp_path, *SMALL)
    assert longer["epochs"] == 2 and len(load_checkpoint(ck_path).history) == 2  # continued, not restarted

    # The training curve scores the same run from its recorded history.
    curve = run_json(aae, "curve-mnist-100", "--eval-only", "--runs", tmp_path, *SMALL)
    assert curve["runs"][0]["curve"] == {"1": load_checkpoint(ck_path).history[0]["test_error"]}
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1])["result"] == "curve-mnist-100"
    assert json.loads(lines[0])["settings"]["optimizer"] == "sgd"  # the record says what was trained

    # --report: the latest record of each result, read off results.jsonl; a cut-short line is skipped.
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write('{"result": "table2-mnist-100", "mean": \n')
    report = run_json(aae, "--report", "--runs", tmp_path)
    assert [(r["result"], r["epochs"]) for r in report["results"]] == [("table2-mnist-100", 2),
                                                                        ("curve-mnist-100", 2)]
    assert report["results"][0]["mean"] == longer["mean"]
    res = aae("reproduce", "--report", "--runs", tmp_path)
    assert res.exit_code == 0 and "skipped" in res.output and "(fewer)" in res.output
    missing = aae("reproduce", "--report", "--runs", tmp_path / "x")
    assert "results.jsonl is missing" in one_line_error(missing)

    # A seed measured by a command of its own joins the others: the mean over the latest of each seed.
    seed1 = run_json(aae, "table2-mnist-100", "--seeds", "1", "--epochs", "1", "--runs", tmp_path, *SMALL)
    row = run_json(aae, "--report", "--runs", tmp_path)["results"][0]
    assert row["seeds"] == [0, 1] and row["epochs"] == 1 and row["std"] is not None
    assert row["epochs_max"] == 2 and _epochs(row) == "1-2"  # the report's epochs column: seeds stopped apart
    assert row["mean"] == pytest.approx((longer["mean"] + seed1["mean"]) / 2)
    # A record marked superseded (a bug found after it was measured) is left out, and the report says so.
    with open(tmp_path / "results.jsonl", "a") as f:
        f.write(json.dumps({**seed1, "mean": 99.0, "runs": [{**seed1["runs"][0], "value": 99.0}],
                            "superseded": "measured with a bug"}) + "\n")
    assert run_json(aae, "--report", "--runs", tmp_path)["results"][0]["mean"] == pytest.approx(row["mean"])
    assert "superseded" in aae("reproduce", "--report", "--runs", tmp_path).output


def test_parzen_and_cluster_targets(aae, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    p = run_json(aae, "table1-parzen-10k", "--epochs", "1", "--runs", tmp_path, *SMALL)
    (row,) = p["runs"]
    assert row["n_samples"] == 10_000 and np.isfinite(row["value"]) and row["stderr"] > 0
    assert 0.1 <= row["sigma"] <= 1.0
    assert row["test_means"][row["sigmas"].index(row["sigma"])] == pytest.approx(row["value"])
    # --recipe ours: our departures, under the user's --set, recorded as departures.
    c = run_json(aae, "table3-cluster-16", "--seeds", "3", "--epochs", "2", "--runs", tmp_path, *SMALL,
                 "--set", "limit=200", "--recipe", "ours")
    assert c["seeds"] == [3] and 0 <= c["mean"] <= 100 and c["std"] is None
    assert 0 <= c["runs"][0]["majority_label_error"] <= 100
    assert len(c["runs"][0]["majority_cluster_labels"]) == 16 and len(c["runs"][0]["test_class_error"]) == 10
    assert c["recipe"] == "ours" and c["departures"]["consistency_target"] == "clean"
    assert c["departures"]["marginal_entropy"] == 0.3 and c["departures"]["hidden"] == [64, 64]  # --set wins
    ck = load_checkpoint(Path(c["runs"][0]["checkpoint"]))
    assert (ck.config["consistency"], ck.config["disc_hidden"]) == (0.1, [32, 32])
    # Beside the final number: the protocol's error over the run's last epochs, from its history.
    per_epoch = [rec["test_cluster_error"] for rec in ck.history]
    window = c["runs"][0]["recent"]
    assert window["epochs"] == [1, 2] and window["n"] == 2
    assert window["mean"] == pytest.approx(np.mean(per_epoch))
    assert (window["min"], window["max"]) == (min(per_epoch), max(per_epoch))
    assert c["recent"]["mean"] == pytest.approx(window["mean"])
    reported = {r["result"]: r for r in run_json(aae, "--report", "--runs", tmp_path)["results"]}
    assert reported["table3-cluster-16"]["recent"]["mean"] == pytest.approx(window["mean"])
    assert "recent" not in reported["table1-parzen-10k"]  # Parzen is measured once, at the end
    # Piped into a file, the table takes the width it needs: no name or departure cut to fit 80 columns.
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = aae("reproduce", "--report", "--runs", tmp_path).output.splitlines()
    assert any("table3-cluster-16" in ln and "consistency_target=clean" in ln for ln in lines)
    # The same departures spelt out with --set are the same run: its checkpoint is scored, not retrained.
    spelt = [a for item in TARGETS["table3-cluster-16"].ours for a in ("--set", item)]
    same = run_json(aae, "table3-cluster-16", "--seeds", "3", "--eval-only", "--runs", tmp_path, *spelt,
                    *SMALL, "--set", "limit=200")
    assert same["runs"][0]["checkpoint"] == c["runs"][0]["checkpoint"] and same["recipe"] == "paper"
    listed = {r["name"]: r for r in run_json(aae, "--list", "--runs", tmp_path)["results"]}
    assert listed["table3-cluster-16"]["ours"] and not listed["table2-svhn-1000"]["ours"]
    assert listed["table2-mnist-100"]["ours"] == ["consistency=1.0", "marginal_entropy=1.0"]
    assert listed["table2-mnist-1000"]["ours"] == listed["table2-mnist-100"]["ours"]
    assert listed["table2-mnist-all"]["ours"] == listed["table2-mnist-100"]["ours"]
    assert listed["dimred-2d-1000"]["ours"] == ["head_input=onehot"]
    assert all(listed[n]["ours"] == ["head_input=onehot", "consistency=1.0", "marginal_entropy=1.0"]
               for n in ("dimred-10d-100", "dimred-2d-100"))


def test_time_limit_measures_what_was_trained_and_the_next_run_continues(aae, tmp_path: Path):
    args = ["table2-mnist-100", "--seeds", "0,1", "--epochs", "500", "--runs", tmp_path, *SMALL,
            "--time-limit"]
    first = run_json(aae, *args, "4s")
    assert [r["seed"] for r in first["runs"]] == [0, 1] and first["epochs"] < 500
    for row in first["runs"]:  # both seeds got a share of the time, and were measured as they are
        ck = load_checkpoint(Path(row["checkpoint"]))
        assert (row["epoch"], row["minibatches"]) == (ck.epoch, ck.batch) and 0 <= row["value"] <= 100
        assert ck.epoch * 6 + ck.batch > 0  # 300 images / batch 50: some training happened
    # The same command continues each checkpoint. A limit shorter than the setup still trains one
    # minibatch (on a busy machine the setup alone outlasts a short limit), so a repeat always progresses.
    again = run_json(aae, *args, "0.001s")
    for before, after in zip(first["runs"], again["runs"], strict=True):
        assert after["epoch"] * 6 + after["minibatches"] == before["epoch"] * 6 + before["minibatches"] + 1
    both = aae("reproduce", "table2-mnist-100", "--eval-only", "--time-limit", "1h", "--runs", tmp_path)
    assert "--eval-only" in one_line_error(both)


def test_branch_from_trains_what_a_run_from_the_start_trains(aae, tmp_path: Path):
    """A run that differs from another only in a learning-rate schedule that has not acted yet starts from
    the other's checkpoint and ends as the run trained from the start would."""
    trunk = run_json(aae, "table2-mnist-100", "--seeds", "0", "--epochs", "1", "--runs", tmp_path, *SMALL)
    source = Path(trunk["runs"][0]["checkpoint"])
    drop = [*SMALL, "--set", "lr_decay_epochs=[1]"]  # /10 from the second epoch on
    branched = run_json(aae, "table2-mnist-100", "--seeds", "0", "--epochs", "2", "--runs", tmp_path, *drop,
                        "--branch-from", str(source).replace("-s0-", "-s{seed}-"))
    row = branched["runs"][0]
    assert row["branched_from"]["epoch"] == 1 and row["branched_from"]["checkpoint"] == str(source)
    assert row["branched_from"]["source_settings"] == {"lr_decay_epochs": [50, 1000]}
    assert Path(row["checkpoint"]) != source and load_checkpoint(source).epoch == 1  # the source is copied
    branch = load_checkpoint(row["checkpoint"])
    assert branch.config["lr_decay_epochs"] == [1] and [r["lr_scale"] for r in branch.history] == [1.0, 0.1]

    scratch = run_json(aae, "table2-mnist-100", "--seeds", "0", "--epochs", "2", "--runs", tmp_path / "s",
                       *drop)
    assert scratch["runs"][0]["value"] == row["value"]
    ours = load_checkpoint(scratch["runs"][0]["checkpoint"])
    for net, params in ours.nets.items():
        for k, v in params.items():
            assert np.array_equal(v.numpy(), branch.nets[net][k].numpy()), (net, k)

    # A schedule that acted before the source's epoch, or another setting, cannot branch; nothing is written.
    before = sorted(tmp_path.iterdir())
    early = aae("reproduce", "table2-mnist-100", "--seeds", "0", "--epochs", "2", "--runs", tmp_path, *SMALL,
                "--set", "lr_decay_epochs=[0]", "--branch-from", source)
    assert "schedules differ from epoch 1" in one_line_error(early)
    other = aae("reproduce", "table2-mnist-100", "--seeds", "0", "--epochs", "2", "--runs", tmp_path, *SMALL,
                "--set", "lr_recon=0.02", "--branch-from", source)
    assert "other settings differ (lr_recon)" in one_line_error(other)
    assert sorted(tmp_path.iterdir()) == before
    many = aae("reproduce", "table2-mnist-100", "--seeds", "0,1", "--branch-from", source)
    assert "{seed}" in one_line_error(many)


def test_bad_input(aae, tmp_path: Path):
    assert "unknown result 'table9'" in one_line_error(aae("reproduce", "table9"))
    assert "name a result" in one_line_error(aae("reproduce"))
    assert "--seeds" in one_line_error(aae("reproduce", "table2-mnist-100", "--seeds", "a,b"))
    missing = aae("reproduce", "table2-mnist-100", "--seeds", "0", "--eval-only", "--runs", tmp_path)
    assert "does not exist" in one_line_error(missing)
    assert "--epochs" in one_line_error(aae("reproduce", "table2-mnist-100", "--set", "epochs=3"))
    assert "no recipe of ours" in one_line_error(aae("reproduce", "table2-svhn-1000", "--recipe", "ours"))
    assert "--recipe must be" in one_line_error(aae("reproduce", "table3-cluster-30", "--recipe", "mine"))
    # A checkpoint of other settings at the target's path is refused, not continued or overwritten.
    res = aae("train", "--epochs", "1", "--out", tmp_path / "table2-mnist-100-s0.h5", "--limit", "300",
              "--hidden", "64,64", "--set", "disc_hidden=[32,32]")
    assert res.exit_code == 0, res.output
    before = (tmp_path / "table2-mnist-100-s0.h5").read_bytes()
    line = one_line_error(aae("reproduce", "table2-mnist-100", "--seeds", "0", "--runs", tmp_path))
    assert "other settings" in line
    assert (tmp_path / "table2-mnist-100-s0.h5").read_bytes() == before


@pytest.mark.parametrize("example,target", [
    ("fig5-table1-likelihood", "table1-parzen-10k"), ("table2-mnist-100", "table2-mnist-100"),
    ("table2-mnist-1000", "table2-mnist-1000"), ("table2-mnist-all", "table2-mnist-all"),
    ("table2-svhn-1000", "table2-svhn-1000"), ("table3-cluster-16", "table3-cluster-16"),
    ("table3-cluster-30", "table3-cluster-30"), ("fig11a-dimred-2d-1000", "dimred-2d-1000"),
    ("fig11b-dimred-2d-100", "dimred-2d-100"), ("fig11d-dimred-10d-100", "dimred-10d-100"),
    ("table3-cluster-30-ours", "table3-cluster-30"), ("fig11d-dimred-10d-100-ours", "dimred-10d-100"),
    ("fig11b-dimred-2d-100-ours", "dimred-2d-100"), ("fig11a-dimred-2d-1000-ours", "dimred-2d-1000"),
    ("fig5-table1-likelihood-ours", "table1-parzen-10k"), ("table2-mnist-100-ours", "table2-mnist-100"),
    ("table2-mnist-1000-ours", "table2-mnist-1000"), ("table2-mnist-all-ours", "table2-mnist-all"),
])
def test_example_files_train_what_reproduce_trains(example: str, target: str):
    """`aae train --config examples/X.toml` and `aae reproduce` (with --recipe ours for an X-ours file) give
    the same settings (they cannot drift)."""
    import dataclasses

    from aae_cli.config import read_toml, resolve
    from aae_cli.reproduce import config_mismatch, recipe_departures
    from aae_cli.variants import get_variant

    values = read_toml(Path(__file__).parent.parent / "examples" / f"{example}.toml")
    cfg = resolve(get_variant(values["variant"]).preset_for(values.get("dataset", "mnist")), values, {})
    t = TARGETS[target]
    departures = recipe_departures(t, "ours" if example.endswith("-ours") else "paper", [])
    assert config_mismatch(dataclasses.asdict(cfg), target_config(t, 0, departures)) == []
