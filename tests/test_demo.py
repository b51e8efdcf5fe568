"""`prune4rel demo`: its noise model, statistics, verdict, files and bad inputs."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from prune4rel.cli import main
from prune4rel.demo import QUICK, DemoSettings
from prune4rel.demo.experiment import run_grid
from prune4rel.demo.noise import confusion_flips, noise_profile
from prune4rel.demo.summary import format_table, leads, summarize, verdict
from prune4rel.validation import ParameterError

# ---------------------------------------------------------------- noise model


def test_confusion_flips_hard_images_toward_their_confusion() -> None:
    n = 400
    labels = np.repeat(np.arange(4), n // 4)
    probs = np.zeros((n, 4))
    hard = np.arange(n) % 2 == 0
    # easy images: the annotator is sure; hard ones: it sees the next class (c + 1) as likely
    probs[np.arange(n), labels] = np.where(hard, 0.3, 0.999)
    probs[np.arange(n), (labels + 1) % 4] = np.where(hard, 0.69, 0.0)
    probs[np.arange(n), (labels + 2) % 4] = np.where(hard, 0.01, 0.001)
    noisy = confusion_flips(probs, labels, 0.25, seed=3)
    flipped = noisy != labels
    assert flipped.sum() == 100  # exactly round(rate * n)
    assert flipped[hard].sum() > 90  # weights 0.701 vs 0.002: nearly every flip is a hard image
    # new labels follow the annotator's confusion (0.69^1.5 vs 0.01^1.5 on hard images)
    assert np.mean(noisy[flipped & hard] == (labels[flipped & hard] + 1) % 4) > 0.95
    assert np.array_equal(confusion_flips(probs, labels, 0.25, seed=3), noisy)  # seeded


def test_confusion_flips_respect_the_class_cap() -> None:
    labels = np.array([0] * 10 + [1] * 10)
    probs = np.full((20, 2), 0.5)
    probs[:10] = [0.01, 0.99]  # class 0 is all hard, so an uncapped draw would flip it first
    noisy = confusion_flips(probs, labels, 0.5, seed=0, class_cap=0.5)
    assert (noisy[:10] != 0).sum() == 5 and (noisy[10:] != 1).sum() == 5
    with pytest.raises(ValueError, match="rate"):
        confusion_flips(probs, labels, 0.6, seed=0, class_cap=0.5)


def test_noise_profile_by_hand() -> None:
    clean = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    noisy = np.array([1, 1, 2, 0, 1, 1, 0, 2, 2, 2])
    p = noise_profile(clean, noisy, 3)
    assert p.rate == pytest.approx(0.4)  # 4 of 10
    assert (p.class_min, p.class_max) == (0.0, 0.75)  # class 1: 0/2, class 0: 3/4
    assert p.top_share == pytest.approx((2 + 0 + 1) / 4)  # 0->1 twice, 2->0 once, of 4 flips


# ---------------------------------------------------------------- statistics and verdict


def _result(method: str, fraction: float, seed: int, acc: float, noise: float = 0.1,
            relabel: float = 0.9) -> dict[str, Any]:
    return {"method": method, "fraction": fraction, "seed": seed, "dataset": "d", "test_set": "t",
            "learner": "sop+", "epochs": 1, "n_train": 100, "size": int(100 * fraction),
            "test_acc_last": acc, "subset_noise_rate": noise, "relabel_acc": relabel, "_path": "x"}


def _grid(accs: dict[str, dict[float, list[float]]]) -> list[dict[str, Any]]:
    return [_result(m, f, s, a) for m, by_f in accs.items() for f, vals in by_f.items()
            for s, a in enumerate(vals)]


def test_summary_statistics_against_a_hand_computed_case() -> None:
    results = _grid({"uniform": {0.5: [0.80, 0.82, 0.84]}, "better": {0.5: [0.83, 0.84, 0.88]}})
    results[3]["subset_noise_rate"], results[4]["subset_noise_rate"] = 0.2, 0.3  # better: 0.2, 0.3, 0.1
    cells = summarize(results, "uniform")
    uniform, better = cells
    assert (uniform.method, uniform.paired) == ("uniform", None)
    assert (better.method, better.n, better.size) == ("better", 3, 50)
    # mean 0.85, sample std sqrt(((-0.02)^2 + (-0.01)^2 + 0.03^2) / 2) = sqrt(0.0007)
    assert better.test_acc == pytest.approx((0.85, math.sqrt(0.0007)))
    assert better.subset_noise == pytest.approx((0.2, 0.1))
    # paired differences 0.03, 0.02, 0.04: mean 0.03, sample std 0.01, t(0.975, 2) = 4.302653
    half = 4.302653 * 0.01 / math.sqrt(3)
    p = better.paired
    assert p is not None and p["mean"] == pytest.approx(0.03) and p["std"] == pytest.approx(0.01)
    assert p["ci"] == pytest.approx((0.03 - half, 0.03 + half), abs=1e-6)
    assert (p["wins"], p["ties"], p["losses"]) == (3, 0, 0) and better.status == "ahead"
    row = format_table(cells, "uniform").splitlines()[3]
    for text in ("better", "85.0 ± 2.6", "20.0 ± 10.0", "+3.0 [+0.5, +5.5]", "3/0/0", "ahead"):
        assert text in row


def test_verdict_says_when_a_method_does_not_win() -> None:
    results = _grid({
        "uniform": {0.2: [0.80, 0.81, 0.82], 0.6: [0.85, 0.86, 0.87]},
        "loser": {0.2: [0.70, 0.72, 0.71], 0.6: [0.84, 0.87, 0.86]},  # behind, then level
        "winner": {0.2: [0.83, 0.84, 0.85], 0.6: [0.89, 0.91, 0.90]},  # ahead at both
        "mixed": {0.2: [0.82, 0.83, 0.84], 0.6: [0.85, 0.89, 0.87]},  # ahead, then level
    })
    cells = summarize(results, "uniform")
    assert [c.status for c in cells if c.method == "loser"] == ["behind", "level"]
    text = verdict(cells, leads(results, cells), "uniform")
    assert text.startswith("Verdict (3 seeds;") and "\n" not in text
    assert "loser does NOT beat uniform (level at 0.6; behind at 0.2)" in text
    assert "winner beats uniform at every fraction (0.2, 0.6)" in text
    assert "mixed beats uniform at 0.2 only (level at 0.6)" in text
    # most accurate: winner, paired with the runner-up mixed (0.2: +1 every seed; 0.6: +4, +2, +3)
    assert "at 0.2 winner, +1.0 [+1.0, +1.0] points over mixed (clear)" in text
    assert "at 0.6 winner, +3.0 [+0.5, +5.5] points over mixed (clear)" in text


def test_verdict_when_the_lead_is_within_seed_noise() -> None:
    results = _grid({"uniform": {0.4: [0.80, 0.90]}, "a": {0.4: [0.85, 0.86]}})
    cells = summarize(results, "uniform")
    text = verdict(cells, leads(results, cells), "uniform")
    assert "a does NOT beat uniform (level at 0.4)" in text
    assert "at 0.4 a, +0.5 [" in text and "over uniform (within seed noise)" in text


# ---------------------------------------------------------------- settings and the grid


@pytest.mark.parametrize(("field", "value"), [
    ("fractions", (0.0,)), ("fractions", (1.5,)), ("fractions", (math.nan,)), ("seeds", (-1,)),
    ("seeds", (True,)), ("methods", ("small_loss",)), ("methods", ("uniform", "nope")), ("noise", "loud"),
    ("epochs", 0), ("fractions", ()),
])
def test_settings_refuse_bad_values(field: str, value: Any) -> None:
    with pytest.raises(ParameterError) as info:
        replace(DemoSettings(), **{field: value})
    assert info.value.name == field


def test_results_do_not_depend_on_the_number_of_workers() -> None:
    tiny = replace(QUICK, fractions=(0.5,), seeds=(4,), methods=("uniform", "small_loss"), epochs=1)
    one = run_grid(tiny, workers=1)
    two = run_grid(tiny, workers=2)

    def strip(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in results]

    assert one[0] == two[0] and strip(one[1]) == strip(two[1])


# ---------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("demo") / "nested" / "out"
    res = CliRunner().invoke(main, ["demo", "--quick", "--quiet", "--out", str(out)])
    return res, out


def test_quick_demo_prints_the_setting_table_and_verdict(quick_run: tuple[Any, Path]) -> None:
    res, out = quick_run
    assert res.exit_code == 0, res.output
    words = " ".join(res.output.split())  # the description is wrapped
    for fact in ("scikit-learn's digits", "1257 training and 540 clean test images",
                 "40% of the training labels", "CIFAR-10N worst", "SOP+", "2 epochs on each subset",
                 "seeds 0, 1", "smoke test"):
        assert fact in words
    lines = res.output.splitlines()
    methods = ("uniform", "small_loss", "prune4rel", "prune4rel_agree")
    table = [ln for ln in lines if ln.split(" ")[0] in methods]
    assert len(table) == 8  # 4 methods x 2 fractions
    compared = [ln for ln in table if not ln.startswith("uniform")]
    assert len(compared) == 6 and all(ln.endswith(("ahead", "level", "behind")) for ln in compared)
    assert "Verdict (2 seeds;" in words
    assert lines[-2].startswith(f"wrote {out}/: table.md")


def test_quick_demo_writes_markdown_png_and_results(quick_run: tuple[Any, Path]) -> None:
    from matplotlib.image import imread
    from PIL import Image

    res, out = quick_run
    assert res.exit_code == 0, res.output
    markdown = (out / "table.md").read_text()
    assert markdown.startswith("# prune4rel demo") and "| method | keep |" in markdown
    assert "| prune4rel_agree | 0.6 | 754 |" in markdown and "Verdict (2 seeds;" in markdown
    with Image.open(out / "accuracy.png") as img:
        assert img.format == "PNG" and img.size[0] > 800
    assert imread(out / "accuracy.png").ndim == 3
    record = json.loads((out / "results.json").read_text())
    assert record["format"] == "prune4rel.demo" and len(record["results"]) == 16
    methods = {r["method"] for r in record["results"]}
    assert methods == {"uniform", "small_loss", "prune4rel", "prune4rel_agree"}
    assert all(r["size"] == round(r["fraction"] * 1257) for r in record["results"])


@pytest.mark.parametrize(("args", "option", "fragment"), [
    (["--fraction", "0"], "'--fraction'", "must be a share of the training set in [0.05, 1]"),
    (["--fraction", "1.5"], "'--fraction'", "1.5: must be a share"),
    (["--fraction", "nan"], "'--fraction'", "nan: must be a share"),
    (["--fraction", "0.3", "--fraction", "inf"], "'--fraction'", "inf: must be a share"),
    (["--seed", "-1"], "'--seed'", "-1 is not in the range"),
    (["--method", "no_such_method"], "'--method'", "'no_such_method' is not one of"),
    (["--epochs", "0"], "'--epochs'", "0 is not in the range"),
    (["--workers", "0"], "'--workers'", "0 is not in the range"),
])
def test_bad_inputs_are_clear_errors(args: list[str], option: str, fragment: str, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["demo", "--quick", "--out", str(tmp_path), *args])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    assert f"Invalid value for {option}" in res.output and fragment in res.output
    assert "Traceback" not in res.output and not any(tmp_path.iterdir())


def test_out_must_be_a_usable_folder(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("mine")
    for out in (a_file, a_file / "sub"):
        res = CliRunner().invoke(main, ["demo", "--quick", "--out", str(out)])
        assert res.exit_code == 2 and "'--out'" in res.output, res.output
    assert a_file.read_text() == "mine"
