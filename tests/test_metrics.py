"""The shared subset noise rate and index digest, against hand-computed values."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from prune4rel.metrics import index_digest, noise_rate

GIVEN = np.array([0, 1, 2, 2, 1])
CLEAN = np.array([0, 2, 2, -1, 1])  # example 1 is wrong, example 3 has no known clean label


def test_noise_rate_over_known_clean_labels():
    assert noise_rate(GIVEN, CLEAN) == pytest.approx(1 / 4)
    assert noise_rate(GIVEN, CLEAN, np.array([1, 2])) == pytest.approx(1 / 2)
    assert noise_rate(GIVEN, CLEAN, np.array([0, 4])) == 0.0


def test_noise_rate_is_none_without_clean_labels_or_known_ones():
    assert noise_rate(GIVEN, None) is None
    assert noise_rate(GIVEN, CLEAN, np.array([3])) is None
    assert noise_rate(GIVEN, CLEAN, np.array([], dtype=np.int64)) is None


def test_index_digest_is_sha256_of_int64_bytes_and_order_sensitive():
    idx = np.array([3, 1, 2], dtype=np.int32)
    want = hashlib.sha256(np.array([3, 1, 2], dtype=np.int64).tobytes()).hexdigest()[:16]
    assert index_digest(idx) == want
    assert index_digest(idx[::-1]) != want


def test_index_digest_matches_the_stored_run_directory():
    # the digest recorded at 2a1b647 for the fixture's prune4rel_agree subset
    from pathlib import Path

    fixture = Path(__file__).resolve().parent / "fixtures" / "run_2a1b647"
    subset = np.load(fixture / "subset_prune4rel_agree_0.3.npy")
    assert index_digest(subset) == "15fb7e999bca7954"
