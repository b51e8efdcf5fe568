"""The demo runs end to end and returns its table."""

from __future__ import annotations

import pytest

from prune4rel.demo import format_table, run_demo
from prune4rel.selection import available_selectors


def test_run_demo_structure(capsys: pytest.CaptureFixture[str]) -> None:
    methods = [m for m in ("prune4rel", "uniform") if m in available_selectors()]
    out = run_demo(fraction=0.3, seed=0, progress=False, methods=(*methods, "no_such_method"))
    assert [r["method"] for r in out["rows"]] == methods
    assert out["skipped"] == ["no_such_method"]
    assert out["test_set"].startswith("digits")
    assert out["noise_rate"] == pytest.approx(0.4, abs=1e-3)
    for row in out["rows"]:
        assert row["size"] == round(0.3 * 1257)
        assert 0.0 <= row["subset_noise"] <= 1.0
        # the re-labeling learner fixes most wrong labels of its subset
        assert row["relabel_acc"] > 1.0 - row["subset_noise"] + 0.2
        assert row["test_acc"] > 0.7
    printed = capsys.readouterr().out
    assert "re-label acc" in printed and "uniform" in printed


def test_format_table() -> None:
    row = {"method": "x", "size": 3, "subset_noise": 0.5, "test_acc": 0.25,
           "relabel_acc": 1.0, "seconds": 0.04}
    text = format_table([row])
    assert "50.0%" in text and "100.0%" in text and text.splitlines()[0].startswith("method")
