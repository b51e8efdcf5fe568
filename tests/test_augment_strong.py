"""RandAugment strong view: shapes, determinism, every op acts, geometric identity at M=0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prune4rel.data import RANDAUGMENT_OPS, ImageAugment, RandAugment, default_augment
from prune4rel.data.randaugment import GEOMETRIC_OPS


def _batch(b: int = 6, c: int = 3, side: int = 16, seed: int = 0) -> torch.Tensor:
    """A normalised-looking batch with structure (a gradient plus noise), so every op bites."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(-1.5, 1.5, side)
    base = ramp[None, None, :, None] + 0.5 * ramp[None, None, None, :]
    return base + 0.6 * torch.randn(b, c, side, side, generator=g)


def test_shapes_dtypes_and_determinism() -> None:
    x = _batch()
    aug = RandAugment(num_ops=2, magnitude=10)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    assert torch.isfinite(a).all()


@pytest.mark.parametrize("op", [o for o in RANDAUGMENT_OPS if o != "identity"])
def test_each_op_changes_the_image(op: str) -> None:
    x = _batch(b=4)
    out = RandAugment().apply_op(x, op, torch.full((4,), 15.0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    diff = (out - x).abs().flatten(1).amax(1)
    assert (diff > 1e-3).all(), f"{op} left an image unchanged: {diff}"


@pytest.mark.parametrize("op", GEOMETRIC_OPS)
def test_geometric_ops_identity_at_zero_magnitude(op: str) -> None:
    x = _batch(b=3)
    out = RandAugment().apply_op(x, op, torch.zeros(3))
    torch.testing.assert_close(out, x, rtol=0, atol=1e-5)


@pytest.mark.parametrize("op", ["brightness", "contrast", "color", "sharpness", "solarize"])
def test_blending_ops_identity_at_zero_magnitude(op: str) -> None:
    x = _batch(b=3)
    out = RandAugment().apply_op(x, op, torch.zeros(3))
    torch.testing.assert_close(out, x, rtol=0, atol=1e-5)


def test_exact_pixel_scale_with_statistics() -> None:
    # with mean/std the colour ops see true pixel values: brightness 0 -> black pixels
    mean, std = np.array([0.5, 0.4, 0.3]), np.array([0.25, 0.2, 0.2])
    x = _batch(b=2)
    aug = RandAugment(mean=mean, std=std)
    out = aug.apply_op(x, "brightness", torch.full((2,), -30.0 / 0.9))  # factor 0
    black = torch.as_tensor(-mean / std, dtype=torch.float32)[None, :, None, None]
    torch.testing.assert_close(out, black.expand_as(out), rtol=0, atol=1e-5)


def test_single_channel_and_random_magnitude() -> None:
    x = _batch(b=5, c=1, side=8)
    aug = RandAugment(num_ops=3, magnitude=20, random_magnitude=True)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_image_augment_strong_selection() -> None:
    x = _batch(b=4, side=32)
    default = default_augment((3, 32, 32))
    assert isinstance(default, ImageAugment) and default.randaugment is None  # default unchanged
    ra = default_augment((3, 32, 32), strong="randaugment")
    assert isinstance(ra, ImageAugment) and isinstance(ra.randaugment, RandAugment)
    a = ra.strong(x, torch.Generator().manual_seed(1))
    b = ra.strong(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    custom = ImageAugment(strong=RandAugment(num_ops=1, magnitude=5))
    assert custom.randaugment is not None and custom.randaugment.num_ops == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"num_ops": -1}, {"magnitude": 31}, {"ops": ["warp"]}, {"ops": []}, {"mean": [0.5]}],
)
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RandAugment(**kwargs)


def test_bad_strong_name() -> None:
    with pytest.raises(ValueError, match="strong"):
        ImageAugment(strong="autoaugment")
