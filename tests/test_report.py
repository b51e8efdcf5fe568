"""The report: markdown method x fraction tables and the accuracy-vs-fraction plot."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from prune4rel._io import atomic_write_json
from prune4rel.cli import main
from prune4rel.report import collect_results, format_markdown, plot_results, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_result(method, fraction, seed, acc, dataset="digits (symmetric 40%)", learner="elr"):
    return {
        "format": "prune4rel.result", "schema_version": 1, "config_hash": "x", "method": method,
        "params": {}, "fraction": fraction, "subset_size": int(100 * fraction), "n_train": 100,
        "subset_noise_rate": 0.25, "train_noise_rate": 0.4, "test_acc_last": acc - 0.01,
        "test_acc_best": acc, "best_epoch": 3, "relabel_acc": 0.9, "test_set": "holdout",
        "dataset": dataset, "learner": learner, "learner_params": {}, "epochs": 5, "warmup_epochs": 2,
        "seconds": {"warmup": 1.0, "select": 0.1, "train": 2.0}, "device": "cpu", "seed": seed,
        "data_seed": 0,
    }


@pytest.fixture
def two_seeds(tmp_path):
    """Two run directories (seeds 0 and 1) with two methods, two fractions and the full reference."""
    runs = []
    for seed, shift in ((0, 0.0), (1, 0.02)):
        run = tmp_path / f"seed{seed}"
        for method, fraction, acc in (("prune4rel", 0.2, 0.80), ("uniform", 0.2, 0.70),
                                      ("prune4rel", 0.4, 0.85), ("uniform", 0.4, 0.78), ("full", 1.0, 0.90)):
            result = fake_result(method, fraction, seed, acc + shift)
            atomic_write_json(run / f"result_{method}_{fraction}.json", result)
        runs.append(run)
    return runs


def test_table_has_mean_and_std_over_seeds(two_seeds):
    text = format_markdown(collect_results(two_seeds))
    assert "10 result(s) from 2 run directories" in text
    assert "| method | 0.20 | 0.40 | 1.00 |" in text
    # best accuracy of prune4rel at 0.2: 80% and 82% -> 81.0 ± 1.4 (sample std)
    assert "| prune4rel | 81.0 ± 1.4 | 86.0 ± 1.4 |  |" in text
    assert "| full |  |  | 91.0 ± 1.4 |" in text
    for title in ("best epoch", "last epoch", "Noise rate", "Re-labeling accuracy"):
        assert title in text
    assert "| uniform | 25.0 ± 0.0 | 25.0 ± 0.0 |  |" in text  # subset noise table
    assert "Seeds: 0, 1." in text


def test_incomplete_cells_show_their_count(two_seeds):
    (two_seeds[1] / "result_uniform_0.4.json").unlink()
    text = format_markdown(collect_results(two_seeds))
    assert "78.0 (n=1)" in text


def test_settings_are_not_averaged_together(tmp_path):
    atomic_write_json(tmp_path / "a" / "result_uniform_0.2.json", fake_result("uniform", 0.2, 0, 0.7))
    atomic_write_json(tmp_path / "b" / "result_uniform_0.2.json",
                      fake_result("uniform", 0.2, 0, 0.5, learner="sop+"))
    text = format_markdown(collect_results([tmp_path]))
    assert text.count("\n## ") == 2 and "learner sop+" in text and "learner elr" in text
    assert "±" not in text


def test_plot_and_files_are_written(two_seeds, tmp_path):
    out, png = tmp_path / "out" / "table.md", tmp_path / "out" / "fig.png"
    text = write_report(two_seeds, out, png)
    assert out.read_text().strip() == text.strip()
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5_000
    plot_results(collect_results(two_seeds), tmp_path / "last.png", metric="test_acc_last")
    assert (tmp_path / "last.png").read_bytes()[:8] == PNG_MAGIC


def test_cli_report(two_seeds, tmp_path):
    files = ["--out", str(tmp_path / "t.md"), "--plot", str(tmp_path / "f.png")]
    res = CliRunner().invoke(main, ["report", *map(str, two_seeds), *files])
    assert res.exit_code == 0, res.output
    assert "81.0 ± 1.4" in (tmp_path / "t.md").read_text()
    assert (tmp_path / "f.png").read_bytes()[:8] == PNG_MAGIC
    printed = CliRunner().invoke(main, ["report", str(two_seeds[0])])
    assert printed.exit_code == 0 and "| prune4rel | 80.0 | 85.0 |  |" in printed.output


def test_bad_inputs_give_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no result_"):
        collect_results([tmp_path / "empty"])
    with pytest.raises(ValueError, match="not found"):
        collect_results([tmp_path / "missing"])
    bad = tmp_path / "result_x_0.2.json"
    bad.write_text(json.dumps({"method": "x"}))
    with pytest.raises(ValueError, match="not a prune4rel result"):
        collect_results([bad])
    res = CliRunner().invoke(main, ["report", str(tmp_path / "empty")])
    assert res.exit_code != 0 and "no result_" in res.output


def test_duplicate_seed_warns(two_seeds, tmp_path):
    copy = tmp_path / "copy"
    atomic_write_json(copy / "result_full_1.0.json", fake_result("full", 1.0, 0, 0.9))
    with pytest.warns(UserWarning, match="second result"):
        format_markdown(collect_results([*two_seeds, copy]))
