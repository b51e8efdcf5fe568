"""Every model exposes embed (B, d), forward (B, C) = head(embed) and embedding_dim."""

from __future__ import annotations

import pytest
import torch

from prune4rel.models import MODEL_NAMES, AirbenchNet, build_model

CASES = [
    ("mlp", (1, 8, 8)),
    ("mlp", (20,)),
    ("small_cnn", (1, 8, 8)),
    ("small_cnn", (3, 32, 32)),
    ("airbench", (3, 32, 32)),
    ("preact_resnet18", (3, 32, 32)),
]


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_embed_forward_shapes(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = build_model(name, 7, input_shape=shape).eval()
    x = torch.randn(3, *shape)
    with torch.no_grad():
        z = model.embed(x)
        logits = model(x)
    assert z.shape == (3, model.embedding_dim)
    assert logits.shape == (3, 7)
    with torch.no_grad():
        torch.testing.assert_close(logits, model.head(z))


def test_all_names_covered() -> None:
    # resnet50 needs the optional torchvision: covered in tests/test_resnet50.py
    assert {name for name, _ in CASES} == set(MODEL_NAMES) - {"resnet50"}


def test_airbench_whitening_init() -> None:
    torch.manual_seed(0)
    model = AirbenchNet(3, 10)
    x = torch.randn(16, 3, 32, 32)
    model.init_from_data(x)
    assert not model.whiten.weight.requires_grad
    out = model.act(model.whiten(x))
    assert torch.isfinite(out).all()


def test_build_model_errors() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vgg", 10)
    with pytest.raises(ValueError, match="input_shape"):
        build_model("mlp", 10)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("small_cnn", 1)
