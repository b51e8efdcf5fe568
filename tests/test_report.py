"""The report: markdown method x fraction tables and the accuracy-vs-fraction plot."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from prune4rel._io import atomic_write_json
from prune4rel.cli import main
from prune4rel.report import collect_results, format_markdown, paired_differences, plot_results, write_report

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


@pytest.fixture
def three_seeds(tmp_path):
    """Seeds 0-2: ours beats base by 1, 2 and 3 points at 0.2, ties it at 0.4; seed 3 has only ours."""
    runs = []
    for seed, (gap_02, acc_04) in enumerate(((0.01, 0.5), (0.02, 0.5), (0.03, 0.5))):
        run = tmp_path / f"seed{seed}"
        for method, fraction, acc in (("ours", 0.2, 0.60 + gap_02), ("base", 0.2, 0.60),
                                      ("ours", 0.4, acc_04), ("base", 0.4, 0.5), ("full", 1.0, 0.7)):
            result = fake_result(method, fraction, seed, acc)
            atomic_write_json(run / f"result_{method}_{fraction}.json", result)
        runs.append(run)
    atomic_write_json(tmp_path / "seed3" / "result_ours_0.2.json", fake_result("ours", 0.2, 3, 0.99))
    return [*runs, tmp_path / "seed3"]


def test_paired_differences_by_hand(three_seeds):
    rows = paired_differences(collect_results(three_seeds), "base")
    assert [(r["method"], r["fraction"]) for r in rows] == [("ours", 0.2), ("ours", 0.4)]
    at_02, at_04 = rows
    # differences 1, 2, 3 points: mean 2, sample std 1, t(0.975, 2 dof) = 4.302653
    assert at_02["seeds"] == [0, 1, 2] and at_02["n"] == 3  # seed 3 has no baseline run
    assert at_02["mean"] == pytest.approx(0.02) and at_02["std"] == pytest.approx(0.01)
    half = 4.302653 * 0.01 / 3**0.5
    assert at_02["ci"] == pytest.approx((0.02 - half, 0.02 + half), abs=1e-8)
    assert (at_02["wins"], at_02["ties"], at_02["losses"]) == (3, 0, 0)
    assert (at_04["wins"], at_04["ties"], at_04["losses"]) == (0, 3, 0) and at_04["ci"] == (0.0, 0.0)
    narrower = paired_differences(collect_results(three_seeds), "base", level=0.5)[0]["ci"]
    assert narrower[1] - narrower[0] < 2 * half


def test_paired_table_in_the_report_and_cli(three_seeds, tmp_path):
    text = format_markdown(collect_results(three_seeds), paired_against=["base"])
    assert "minus `base`, paired by seed" in text
    assert "| ours | +2.0 [-0.5, +4.5] 3/0/0 | +0.0 [+0.0, +0.0] 0/3/0 |" in text
    res = CliRunner().invoke(main, ["report", *map(str, three_seeds), "--paired-against", "ours"])
    assert res.exit_code == 0, res.output
    assert "| base | -2.0 [-4.5, +0.5] 0/0/3 |" in res.output
    one = CliRunner().invoke(main, ["report", str(three_seeds[0]), "--paired-against", "base"])
    assert "| ours | +1.0 1/0/0 | +0.0 0/1/0 |" in one.output  # one seed: no interval


def test_unknown_baseline_or_level_is_a_clear_error(three_seeds):
    results = collect_results(three_seeds)
    with pytest.raises(ValueError, match="no results for baseline 'nope'"):
        format_markdown(results, paired_against=["nope"])
    with pytest.raises(ValueError, match="level"):
        paired_differences(results, "base", level=1.0)
    res = CliRunner().invoke(main, ["report", str(three_seeds[0]), "--paired-against", "nope"])
    assert res.exit_code != 0 and "no results for baseline" in res.output


@pytest.mark.parametrize(
    ("suffix", "magic"), [(".jpg", b"\xff\xd8\xff"), (".pdf", b"%PDF"), (".svg", b"<?xml")]
)
def test_the_plot_format_follows_the_suffix(two_seeds, tmp_path, suffix, magic):
    plot = tmp_path / f"fig{suffix}"
    res = CliRunner().invoke(main, ["report", *map(str, two_seeds), "--out", str(tmp_path / "t.md"),
                                    "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    assert plot.read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["fig.txt", "fig", "fig.png.bak"])
def test_a_plot_suffix_that_names_no_image_format_is_refused_with_the_allowed_ones(two_seeds, tmp_path, name):
    res = CliRunner().invoke(main, ["report", *map(str, two_seeds), "--out", str(tmp_path / "t.md"),
                                    "--plot", str(tmp_path / name)])
    assert res.exit_code != 0
    assert "the suffix gives the image format" in res.output
    assert ".png, " in res.output and ".jpg" in res.output
    assert not (tmp_path / name).exists() and not (tmp_path / "t.md").exists()  # nothing written


def test_report_outputs_may_not_overwrite_a_result_or_each_other(two_seeds, tmp_path):
    result = two_seeds[0] / "result_uniform_0.2.json"
    odd = tmp_path / "result.png"  # a result file given by name, whatever its suffix
    odd.write_bytes(result.read_bytes())
    before = {p: p.read_bytes() for p in (result, odd)}
    for flags in (["--out", str(result)], ["--out", str(tmp_path / "t.md"), "--plot", str(odd)]):
        res = CliRunner().invoke(main, ["report", *map(str, two_seeds), str(odd), *flags])
        assert res.exit_code != 0 and "is one of the result files read" in res.output
    assert {p: p.read_bytes() for p in before} == before
    same = tmp_path / "x.png"
    res = CliRunner().invoke(main, ["report", *map(str, two_seeds), "--out", str(same), "--plot", str(same)])
    assert res.exit_code != 0 and "would both be" in res.output
