"""A Selection as a torch Subset / sampler, a Hugging Face dataset, and CSV / Parquet tables."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from conftest import softmax
from torch.utils.data import DataLoader, TensorDataset

from prune4rel import Selection, Signals
from prune4rel.selection import get_selector
from prune4rel.selection.export import (
    selection_table,
    to_hf_dataset,
    to_sampler,
    to_subset,
    write_selection_csv,
    write_selection_parquet,
)

SEL = Selection(indices=np.array([7, 2, 5]), gains=np.array([0.5, 0.25, 0.125]), method="hand")
IDS = np.array([f"img-{i}" for i in range(10)])


def test_subset_keeps_the_selection_order():
    data = TensorDataset(torch.arange(10) * 10)
    sub = to_subset(SEL, data)
    assert [int(sub[i][0]) for i in range(len(sub))] == [70, 20, 50]
    with pytest.raises(ValueError, match="`dataset` has 5 rows but the selection holds index 7"):
        to_subset(SEL, TensorDataset(torch.arange(5)))
    with pytest.raises(ValueError, match="`selection` must be a prune4rel Selection"):
        to_subset([7, 2], data)


def test_seeded_sampler_is_reproducible_and_draws_each_selected_index_once():
    orders = []
    for _ in range(2):
        sampler = to_sampler(SEL, seed=3)
        orders.append([list(sampler) for _epoch in range(3)])
    assert orders[0] == orders[1]
    assert all(sorted(epoch) == [2, 5, 7] for epoch in orders[0])
    assert sorted(to_sampler(SEL)) == [2, 5, 7]
    with pytest.raises(ValueError, match="`seed` must be an int"):
        to_sampler(SEL, seed=1.5)


def test_a_real_selection_drives_a_dataloader():
    rng = np.random.default_rng(0)
    n = 40
    probs = softmax(rng.normal(size=(n, 2)))
    sig = Signals(labels=rng.integers(0, 2, n), probs=probs, embeddings=rng.normal(size=(n, 3)))
    sel = get_selector("small_loss").select(sig, 0.25)
    data = TensorDataset(torch.arange(n))
    loader = DataLoader(data, batch_size=4, sampler=to_sampler(sel, seed=0))
    seen = [int(i) for (batch,) in loader for i in batch]
    assert sorted(seen) == sorted(sel.indices.tolist()) and len(seen) == 10


def test_hf_dataset_select():
    datasets = pytest.importorskip("datasets", reason="needs the [hf] extra")
    ds = datasets.Dataset.from_dict({"x": list(range(10)), "label": [i % 3 for i in range(10)]})
    sub = to_hf_dataset(SEL, ds)
    assert sub["x"] == [7, 2, 5] and sub["label"] == [1, 2, 2]
    with pytest.raises(ValueError, match=r"DatasetDict with splits \['train'\]: pass one split"):
        to_hf_dataset(SEL, datasets.DatasetDict({"train": ds}))
    with pytest.raises(ValueError, match=r"must be a datasets\.Dataset, got list"):
        to_hf_dataset(SEL, list(range(10)))
    with pytest.raises(ValueError, match="has 3 rows but the selection holds index 7"):
        to_hf_dataset(SEL, ds.select([0, 1, 2]))


def test_table_columns():
    table = selection_table(SEL, IDS)
    assert list(table) == ["rank", "index", "id", "score"]
    np.testing.assert_array_equal(table["rank"], [1, 2, 3])
    np.testing.assert_array_equal(table["index"], [7, 2, 5])
    np.testing.assert_array_equal(table["id"], ["img-7", "img-2", "img-5"])
    np.testing.assert_array_equal(table["score"], [0.5, 0.25, 0.125])
    assert list(selection_table(SEL)) == ["rank", "index", "score"]
    with pytest.raises(ValueError, match="`ids` has 6 rows but the selection holds index 7"):
        selection_table(SEL, IDS[:6])
    with pytest.raises(ValueError, match="`ids` must be 1-D"):
        selection_table(SEL, IDS.reshape(2, 5))
    with pytest.raises(ValueError, match=r"`selection\.gains` has shape"):
        selection_table(Selection(indices=np.array([1, 2]), gains=np.array([1.0])))


def test_csv_text_and_round_trip(tmp_path):
    path = write_selection_csv(SEL, tmp_path / "out" / "subset.csv", IDS)
    assert path.read_text() == "rank,index,id,score\n1,7,img-7,0.5\n2,2,img-2,0.25\n3,5,img-5,0.125\n"
    odd = Selection(indices=np.array([1, 0]), gains=np.array([1 / 3, -2.0]))
    write_selection_csv(odd, tmp_path / "odd.csv", ids=["a,b", 'say "hi"'])
    with open(tmp_path / "odd.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ['say "hi"', "a,b"]
    assert float(rows[0]["score"]) == 1 / 3  # exact round trip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.csv", "out"]  # no temporaries left


def test_parquet_round_trip(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="needs the [hf] extra")
    write_selection_parquet(SEL, tmp_path / "subset.parquet", ids=np.arange(100, 110))
    table = pq.read_table(tmp_path / "subset.parquet")
    assert table.column_names == ["rank", "index", "id", "score"]
    assert [str(t) for t in table.schema.types] == ["int64", "int64", "int64", "double"]
    assert table.to_pydict() == {
        "rank": [1, 2, 3], "index": [7, 2, 5], "id": [107, 102, 105], "score": [0.5, 0.25, 0.125]
    }
    assert [p.name for p in tmp_path.iterdir()] == ["subset.parquet"]


def test_a_refused_write_leaves_the_old_file(tmp_path):
    path = write_selection_csv(SEL, tmp_path / "subset.csv")
    before = path.read_text()
    with pytest.raises(ValueError, match="`ids` has 2 rows"):
        write_selection_csv(SEL, path, ids=["a", "b"])
    assert path.read_text() == before
