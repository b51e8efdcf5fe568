"""Batched augmentations on torch tensors, and the input pipeline that feeds models.

All augmentations work on a whole batch at once, on whatever device the batch lives on
(no per-image Python loop, no PIL), and draw their randomness from an explicit CPU
:class:`torch.Generator`, so a seed gives the same views on CPU and GPU.

Inputs are normalised first (see :class:`InputPipeline`); zero therefore means "the mean
colour", which is what cutout fills in.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from prune4rel.data.dataset import is_memory_mapped

__all__ = [
    "RANDAUGMENT_OPS",
    "Augment",
    "FeatureAugment",
    "ImageAugment",
    "InputPipeline",
    "NoAugment",
    "RandAugment",
    "cutout",
    "default_augment",
    "random_crop",
    "random_flip",
]


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * (high - low) + low).to(device)


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random ``H x W`` crops of the batch after reflect-padding ``pad`` pixels per side.

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W)
    pad : int
        Padding per side (``pad < min(H, W)``); 0 returns ``x``.
    generator : torch.Generator
        CPU generator for the offsets.

    Returns
    -------
    Tensor, shape (B, C, H, W)
    """
    if pad <= 0:
        return x
    b, c, h, w = x.shape
    dev = x.device
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(dev)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(dev)
    rows = oy[:, None] + torch.arange(h, device=dev)  # (B, H)
    cols = ox[:, None] + torch.arange(w, device=dev)  # (B, W)
    bi = torch.arange(b, device=dev)[:, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None]
    return xp[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of a (B, C, H, W) batch horizontally with probability 1/2."""
    mask = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(mask[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a ``size x size`` square (clipped at the border) at a random centre per image.

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W), normalised (0 = mean colour)
    size : int
        Side of the square; 0 returns ``x``.
    generator : torch.Generator
    """
    if size <= 0:
        return x
    b, _, h, w = x.shape
    dev = x.device
    cy = torch.randint(0, h, (b,), generator=generator).to(dev) - size // 2
    cx = torch.randint(0, w, (b,), generator=generator).to(dev) - size // 2
    ry = torch.arange(h, device=dev)[None, :]
    rx = torch.arange(w, device=dev)[None, :]
    in_y = (ry >= cy[:, None]) & (ry < cy[:, None] + size)  # (B, H)
    in_x = (rx >= cx[:, None]) & (rx < cx[:, None] + size)  # (B, W)
    mask = in_y[:, None, :, None] & in_x[:, None, None, :]
    return x.masked_fill(mask, 0.0)


# ---------------------------------------------------------------------------- RandAugment
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


class Augment:
    """Base class: a weak view for the supervised loss and a strong view for consistency."""

    def weak(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Weakly augmented copy of a normalised batch (default: unchanged)."""
        return x

    def strong(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Strongly augmented copy of a normalised batch (default: the weak view)."""
        return self.weak(x, generator)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class NoAugment(Augment):
    """Identity for both views."""


class ImageAugment(Augment):
    """Crop/flip weak view; crop/flip + jitter (or RandAugment) + cutout strong view.

    With the defaults this is the standard CIFAR augmentation (4-pixel padded random crop
    and horizontal flip) for the weak view.

    Parameters
    ----------
    pad : int
        Random-crop padding per side.
    flip : bool
        Random horizontal flips (turn off for digits and text).
    cutout : int
        Cutout side in the weak view (0 = none; airbench-style training uses e.g. 12).
    strong_cutout : int
        Cutout side in the strong view (e.g. 16 for 32x32 images).
    jitter : float
        Strong view ``"jitter"``: contrast factor in ``[1 - jitter, 1 + jitter]`` and
        brightness shift in ``[-jitter, jitter]`` (normalised units), per image.
    strong : {"jitter", "randaugment"} or RandAugment
        Strong view between crop/flip and cutout: the brightness/contrast jitter (default),
        or :class:`RandAugment` (``"randaugment"``: 2 ops at magnitude 10, or an instance
        for other settings).
    """

    def __init__(
        self, pad: int = 4, flip: bool = True, cutout: int = 0, strong_cutout: int = 16,
        jitter: float = 0.4, strong: str | RandAugment = "jitter",
    ) -> None:
        if isinstance(strong, str):
            if strong not in ("jitter", "randaugment"):
                raise ValueError(f"`strong` must be 'jitter', 'randaugment' or a RandAugment, got {strong!r}")
            self.randaugment = RandAugment() if strong == "randaugment" else None
        elif isinstance(strong, RandAugment):
            self.randaugment = strong
        else:
            raise ValueError(f"`strong` must be 'jitter', 'randaugment' or a RandAugment, got {strong!r}")
        self.pad = pad
        self.flip = flip
        self.cutout = cutout
        self.strong_cutout = strong_cutout
        self.jitter = jitter

    def weak(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_crop(x, self.pad, generator)
        if self.flip:
            x = random_flip(x, generator)
        return cutout(x, self.cutout, generator)

    def strong(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_crop(x, self.pad, generator)
        if self.flip:
            x = random_flip(x, generator)
        if self.randaugment is not None:
            x = self.randaugment(x, generator)
        elif self.jitter > 0:
            b = x.shape[0]
            contrast = _uniform(b, 1 - self.jitter, 1 + self.jitter, generator, x.device)
            bright = _uniform(b, -self.jitter, self.jitter, generator, x.device)
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * contrast[:, None, None, None] + mean + bright[:, None, None, None]
        return cutout(x, self.strong_cutout, generator)


class FeatureAugment(Augment):
    """For feature vectors: weak = identity (or light noise), strong = noise + dropout.

    Parameters
    ----------
    weak_noise : float
        Std of Gaussian noise (normalised units) in the weak view.
    strong_noise : float
        Std of Gaussian noise in the strong view.
    drop : float
        Share of features zeroed (set to the mean) in the strong view.
    """

    def __init__(self, weak_noise: float = 0.0, strong_noise: float = 0.2, drop: float = 0.1) -> None:
        self.weak_noise = weak_noise
        self.strong_noise = strong_noise
        self.drop = drop

    @staticmethod
    def _noise(x: torch.Tensor, std: float, gen: torch.Generator) -> torch.Tensor:
        if std <= 0:
            return x
        return x + std * torch.randn(x.shape, generator=gen).to(x.device, x.dtype)

    def weak(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self._noise(x, self.weak_noise, generator)

    def strong(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = self._noise(x, self.strong_noise, generator)
        if self.drop > 0:
            keep = (torch.rand(x.shape, generator=generator) >= self.drop).to(x.device)
            x = x * keep
        return x


def default_augment(input_shape: Sequence[int], strong: str | RandAugment = "jitter") -> Augment:
    """The default views for an input shape ((C, H, W) images or (F,) features).

    Images of side >= 32 get the CIFAR recipe (crop pad 4 + flip; strong: + jitter +
    cutout of half the side); smaller images (e.g. 8x8 digits) get a 1-pixel crop, no flip
    (digits are not mirror-symmetric) and a cutout of a third of the side; features get
    :class:`FeatureAugment`.

    Parameters
    ----------
    input_shape : sequence of int
        (C, H, W) or (F,).
    strong : {"jitter", "randaugment"} or RandAugment
        Strong image view (see :class:`ImageAugment`); ignored for features. The learners'
        ``augment="auto"`` uses ``"jitter"``; pass ``augment=default_augment(shape,
        strong="randaugment")`` for RandAugment.
    """
    if len(input_shape) == 3:
        side = min(input_shape[1], input_shape[2])
        if side >= 32:
            return ImageAugment(pad=4, flip=True, strong_cutout=side // 2, strong=strong)
        return ImageAugment(
            pad=1 if side > 1 else 0, flip=False, strong_cutout=max(1, side // 3), strong=strong
        )
    return FeatureAugment()


def _read_only_tensor(arr: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` without its warning for read-only arrays (memory-mapped files):
    the pipeline only reads raw inputs, it never writes into them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


class InputPipeline:
    """Moves raw inputs to a device once and turns index batches into normalised tensors.

    Images stay uint8, channels last, on the device (4x less memory than float) and are
    converted per batch: ``(x / 255 - mean) / std``, channels first. Features are stored
    as float32 and standardised per feature. Memory-mapped images (a decode cache, a
    ``np.load(..., mmap_mode="r")`` array) are not copied: :meth:`stage` keeps them a host
    view of the file and :meth:`gather` reads and moves one batch at a time.

    Parameters
    ----------
    mean, std : ndarray of float, shape (C,) or (F,)
        From :meth:`NoisyDataset.normalization`.
    is_image : bool
    device : torch.device or str
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray, is_image: bool, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.is_image = is_image
        shape = (1, -1, 1, 1) if is_image else (1, -1)
        self.mean = torch.as_tensor(np.asarray(mean, np.float32), device=self.device).reshape(shape)
        self.std = torch.as_tensor(np.asarray(std, np.float32), device=self.device).reshape(shape)

    def stage(self, x: np.ndarray) -> torch.Tensor:
        """The training set's raw inputs for :meth:`gather`: on the device, except
        memory-mapped images, which stay a zero-copy host view of the file.

        Parameters
        ----------
        x : ndarray, shape (N, H, W, C) uint8 or (N, F) float

        Returns
        -------
        torch.Tensor, shape of ``x``
        """
        if self.is_image and is_memory_mapped(x):
            if x.dtype != np.uint8:
                raise ValueError(f"image inputs must be uint8 (N, H, W, C), got {x.dtype}")
            return _read_only_tensor(np.asarray(x))
        return self.upload(x)

    def gather(self, raw: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Normalised inputs of rows ``idx`` of the tensor :meth:`stage` returned, on the device.

        Parameters
        ----------
        raw : torch.Tensor, shape (N, ...)
        idx : torch.Tensor of int64, shape (B,)

        Returns
        -------
        torch.Tensor of float32, shape (B, C, H, W) or (B, F)
        """
        if raw.device == self.device:
            return self(raw[idx.to(raw.device)])
        rows = raw[idx.cpu()]
        if self.device.type == "cuda":
            rows = rows.pin_memory()
        return self(rows.to(self.device, non_blocking=True))

    def upload(self, x: np.ndarray) -> torch.Tensor:
        """Raw inputs (N, H, W, C) uint8 or (N, F) float as a device tensor (no copy of
        semantics: still raw)."""
        arr = np.ascontiguousarray(x if self.is_image else np.asarray(x, np.float32))
        if self.is_image and arr.dtype != np.uint8:
            raise ValueError(f"image inputs must be uint8 (N, H, W, C), got {arr.dtype}")
        return _read_only_tensor(arr).to(self.device)

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        """Normalise a raw batch: returns (B, C, H, W) or (B, F) float32."""
        if self.is_image:
            x = raw.permute(0, 3, 1, 2).float().div_(255.0)
            return ((x - self.mean) / self.std).contiguous()
        return (raw.float() - self.mean) / self.std
