"""RandAugment (Cubuk et al., 2020) on a normalised batch of images.

Colour ops run on the 0..1 pixel scale, geometric ops fill uncovered pixels with 0. Batched
over the images that drew the same op, on the batch's device, with randomness from
an explicit CPU :class:`torch.Generator`, like the other views in
:mod:`prune4rel.data.augment`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["GEOMETRIC_OPS", "RANDAUGMENT_OPS", "RandAugment"]

#: Operations of :class:`RandAugment` (Cubuk et al., 2020), in the order of the op ids.
RANDAUGMENT_OPS = (
    "identity",
    "autocontrast",
    "equalize",
    "brightness",
    "contrast",
    "color",
    "sharpness",
    "solarize",
    "posterize",
    "rotate",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)
#: Ops that move pixels (they fill uncovered pixels with 0, the mean colour).
GEOMETRIC_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
_MAX_MAGNITUDE = 30.0  # RandAugment's magnitude scale: M in [0, 30]


def _to_unit(
    x: torch.Tensor, mean: torch.Tensor | None, std: torch.Tensor | None
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Map a normalised batch to the 0..1 pixel scale, and the affine map to come back.

    With the normalisation statistics the map is exact (``x * std + mean``); without them
    each image is stretched by its own min and max, an invertible per-image affine map that
    puts the image's darkest pixel at 0 and its brightest at 1.
    """
    if mean is not None and std is not None:
        shape = (1, -1, 1, 1)
        scale = std.to(x.device, x.dtype).reshape(shape).expand(x.shape[0], -1, 1, 1)
        shift = mean.to(x.device, x.dtype).reshape(shape).expand(x.shape[0], -1, 1, 1)
    else:
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        hi = x.amax(dim=(1, 2, 3), keepdim=True)
        scale = 1.0 / (hi - lo).clamp_min(1e-6)
        shift = -lo * scale
    # u = x * scale + shift, x = (u - shift) / scale
    return x * scale + shift, (scale, shift)


def _from_unit(u: torch.Tensor, affine: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    scale, shift = affine
    return (u - shift) / scale


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``b + factor * (a - b)`` per image (PIL's ImageEnhance convention), clipped to [0, 1]."""
    return (b + factor[:, None, None, None] * (a - b)).clamp(0.0, 1.0)


def _grey(u: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601) of a (B, 3, H, W) batch, (B, 1, H, W); the batch itself if C != 3."""
    if u.shape[1] != 3:
        return u
    w = torch.tensor([0.299, 0.587, 0.114], device=u.device, dtype=u.dtype)
    return (u * w[None, :, None, None]).sum(dim=1, keepdim=True)


def _equalize(u: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram equalisation (256 bins) of a 0..1 batch, like PIL's equalize."""
    b, c, h, w = u.shape
    bins = (u.clamp(0, 1) * 255).round().long().reshape(b, c, h * w)
    hist = torch.zeros(b, c, 256, device=u.device, dtype=u.dtype)
    hist.scatter_add_(2, bins, torch.ones_like(bins, dtype=u.dtype))
    cdf = hist.cumsum(dim=2)
    first = cdf.gather(2, bins.amin(dim=2, keepdim=True))  # pixels in the darkest bin
    total = float(h * w)
    out = (cdf.gather(2, bins) - first) / (total - first).clamp_min(1.0)
    return out.reshape(b, c, h, w).clamp(0.0, 1.0)


def _affine(x: torch.Tensor, op: str, v: torch.Tensor) -> torch.Tensor:
    """Rotate / shear / translate each image of a normalised batch by its own amount ``v``.

    ``v`` is the signed strength per image: degrees for rotate, the shear factor, or the
    shift as a share of the image side. Uncovered pixels are 0 (the mean colour).
    """
    b = x.shape[0]
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    if op == "rotate":
        rad = torch.deg2rad(v)
        cos, sin = torch.cos(rad), torch.sin(rad)
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
        theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    elif op == "shear_x":
        theta[:, 0, 1] = v
    elif op == "shear_y":
        theta[:, 1, 0] = v
    elif op == "translate_x":
        theta[:, 0, 2] = 2.0 * v  # affine_grid coordinates span [-1, 1]
    elif op == "translate_y":
        theta[:, 1, 2] = 2.0 * v
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class RandAugment:
    """RandAugment (Cubuk et al., 2020) on a batch: ``num_ops`` random ops per image.

    Each image draws its own ops (uniformly from ``ops``, with replacement) and, for signed
    ops, its own sign; everything is batched over the images that drew the same op, on the
    batch's device, with randomness from the given CPU generator.

    The batch arrives normalised. Colour ops (autocontrast, equalize, brightness, contrast,
    color, sharpness, solarize, posterize) run on the 0..1 pixel scale: exactly when
    ``mean``/``std`` are given, otherwise after stretching each image by its own min and max
    (an invertible affine map, undone afterwards). Geometric ops act on the normalised batch
    and fill uncovered pixels with 0, the mean colour.

    Strength at magnitude ``M`` (scale 0..30, ``f = M / 30``): brightness/contrast/color/
    sharpness factor ``1 ± 0.9 f``; solarize threshold ``1 - f``; posterize to
    ``8 - round(4 f)`` bits; rotate ``± 30 f`` degrees; shear ``± 0.3 f``; translate
    ``± 0.3 f`` of the side. At ``M = 0`` the geometric and blending ops are the identity up
    to float rounding (posterize still rounds to 8 bits; autocontrast and equalize have no
    magnitude).

    Parameters
    ----------
    num_ops : int
        Ops applied in sequence to each image (``N``; 2 is the usual choice).
    magnitude : float
        ``M`` in ``[0, 30]`` (9-10 is usual).
    ops : sequence of str, optional
        Subset of :data:`RANDAUGMENT_OPS` to draw from (default: all of them).
    random_magnitude : bool
        Draw each image's magnitude uniformly in ``[0, M]`` (FixMatch's variant).
    mean, std : sequence of float, optional
        Per-channel normalisation statistics (0..1 pixel scale) of the batches, from
        :meth:`NoisyDataset.normalization`, for exact colour ops.
    """

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 10.0,
        ops: Sequence[str] | None = None,
        random_magnitude: bool = False,
        mean: Sequence[float] | np.ndarray | None = None,
        std: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        if isinstance(num_ops, bool) or int(num_ops) != num_ops or num_ops < 0:
            raise ValueError(f"`num_ops` must be a non-negative integer, got {num_ops!r}")
        if not (0.0 <= float(magnitude) <= _MAX_MAGNITUDE):
            raise ValueError(f"`magnitude` must lie in [0, 30], got {magnitude!r}")
        chosen = tuple(RANDAUGMENT_OPS if ops is None else ops)
        unknown = [o for o in chosen if o not in RANDAUGMENT_OPS]
        if unknown or not chosen:
            raise ValueError(f"`ops` must be a non-empty subset of {RANDAUGMENT_OPS}, got {ops!r}")
        if (mean is None) != (std is None):
            raise ValueError("`mean` and `std` must be given together")
        self.num_ops = int(num_ops)
        self.magnitude = float(magnitude)
        self.ops = chosen
        self.random_magnitude = bool(random_magnitude)
        self.mean = None if mean is None else torch.as_tensor(np.asarray(mean, np.float32))
        self.std = None if std is None else torch.as_tensor(np.asarray(std, np.float32))

    def apply_op(self, x: torch.Tensor, op: str, magnitude: torch.Tensor) -> torch.Tensor:
        """Apply one op to every image of a normalised batch.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W), normalised
        op : str
            One of :data:`RANDAUGMENT_OPS`.
        magnitude : Tensor, shape (B,)
            Signed magnitude per image on the 0..30 scale (the sign picks the direction
            of rotate/shear/translate and brighter/darker etc.; ignored where meaningless).

        Returns
        -------
        Tensor, shape (B, C, H, W)
        """
        if op not in RANDAUGMENT_OPS:
            raise ValueError(f"`op` must be one of {RANDAUGMENT_OPS}, got {op!r}")
        f = magnitude.to(x.device, x.dtype) / _MAX_MAGNITUDE
        if op == "identity":
            return x
        if op in GEOMETRIC_OPS:
            scale = 30.0 if op == "rotate" else 0.3
            return _affine(x, op, scale * f)
        u, back = _to_unit(x, self.mean, self.std)
        if op == "autocontrast":
            lo = u.amin(dim=(2, 3), keepdim=True)
            hi = u.amax(dim=(2, 3), keepdim=True)
            u = torch.where(hi > lo, (u - lo) / (hi - lo).clamp_min(1e-6), u)
        elif op == "equalize":
            u = _equalize(u)
        elif op == "brightness":
            u = _blend(u, torch.zeros_like(u), 1.0 + 0.9 * f)
        elif op == "contrast":
            grey = _grey(u).mean(dim=(1, 2, 3), keepdim=True).expand_as(u)
            u = _blend(u, grey, 1.0 + 0.9 * f)
        elif op == "color":
            u = _blend(u, _grey(u).expand_as(u), 1.0 + 0.9 * f)
        elif op == "sharpness":
            c = u.shape[1]
            k = torch.ones(3, 3, device=u.device, dtype=u.dtype)
            k[1, 1] = 5.0
            k = (k / k.sum()).expand(c, 1, 3, 3)
            smooth = F.conv2d(F.pad(u, (1, 1, 1, 1), mode="replicate"), k, groups=c)
            u = _blend(u, smooth, 1.0 + 0.9 * f)
        elif op == "solarize":
            thr = (1.0 - f.abs())[:, None, None, None]
            u = torch.where(u > thr, 1.0 - u, u)
        elif op == "posterize":
            bits = 8.0 - torch.round(4.0 * f.abs())
            levels = (2.0**bits)[:, None, None, None]
            u = torch.floor(u.clamp(0, 1) * 255.0 / (256.0 / levels)) * (256.0 / levels) / 255.0
        return _from_unit(u, back)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a normalised (B, C, H, W) batch; same generator state, same output."""
        b = x.shape[0]
        for _ in range(self.num_ops):
            op_ids = torch.randint(0, len(self.ops), (b,), generator=generator)
            sign = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
            mag = torch.full((b,), self.magnitude)
            if self.random_magnitude:
                mag = mag * torch.rand(b, generator=generator)
            mag = mag * sign
            out = x.clone()
            for k, op in enumerate(self.ops):
                rows = torch.nonzero(op_ids == k).flatten()
                if rows.numel() == 0 or op == "identity":
                    continue
                rows_dev = rows.to(x.device)
                out[rows_dev] = self.apply_op(x[rows_dev], op, mag[rows])
            x = out
        return x

    def __repr__(self) -> str:
        return (
            f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, "
            f"ops={len(self.ops)}, random_magnitude={self.random_magnitude})"
        )
