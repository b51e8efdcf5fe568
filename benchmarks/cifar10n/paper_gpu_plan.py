"""The plan of ``paper_gpu.py``: epochs and expected seconds of every stage of a preset.

Sizing (every figure is recomputed by ``--dry-run`` from the files it names)
---------------------------------------------------------------------------
Forward cost at 32x32, counted with hooks on every ``Conv2d`` and ``Linear`` (BatchNorm,
activations and pooling left out): PreActResNet18 0.555 G multiply-accumulates (1.11 GFLOP),
airbench 0.118 G (0.24 GFLOP): 4.70x. Throughput measured with this library:
``gpu_point_h200_results.json`` trained airbench with SOP+ (batch 512, bf16, two views per
example) at 31,900 example-epochs per second on an H200 (7.2 M example-epochs in 226 s over
its eight cells, selection time left out); ``airbench_clean_h200_results.json`` trained it
with CE (batch 1024, one view) at 97,100 (20 epochs over 50,000 in 10.3 s, median of the
runs after the first). An H100 has the H200's bf16 peak but 3.35 instead of 4.8 TB/s of
memory bandwidth; these small-batch networks are largely bandwidth-bound, so the plan scales
by 0.70 (``--device-factor``; an H100 PCIe is slower still). Assuming the same effective
FLOP rate for both networks, PreActResNet18 with SOP+ trains at 31,900 x 0.70 / 4.70 = about
4,750 example-epochs per second, airbench at about 22,300.

The budget (540 s) minus 10% margin pays for start-up (15 s), loading the 50,000 WebP images
(40 s per run directory; 36.5 s measured on the 2-core CPU machine), the first fit's one-time
cost (7.8 s: the H200 warm-up took 23.5 s for 500,000 example-epochs, 15.7 s at the cells'
rate), the Prune4ReL selections (2 s each for PreActResNet18's 512-d embeddings, 1 s for
airbench's 256-d; 0.4-1.4 s measured on the H200), a per-epoch checkpoint of every training
(network, momentum and SOP state at 500 MB/s: 0.18 s for PreActResNet18, 0.04 s for airbench)
and the report (5 s). The rest goes to training: first the most training epochs that fit
with a 1-epoch warm-up, then the longest warm-up (at most the paper's 10 epochs) that keeps
them. One training epoch of the 16 cells is 4 x (0.2 + 0.4 + 0.6 + 0.8) x 50,000 = 400,000
example-epochs. Result:

* ``paper``: 5 warm-up and 4 training epochs (1.85 M example-epochs, 486 s planned);
* ``fast``: 4 warm-up and 9 training epochs per label set (7.6 M example-epochs, 483 s).

Four epochs are far from the paper's 300: this is what one H100 does in 9 minutes with
PreActResNet18, not a reproduction of the paper's accuracy.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from prune4rel.learners import Learner
from prune4rel.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grid import learner_params

HERE = Path(__file__).resolve().parent
METHODS = ("uniform", "small_loss", "prune4rel", "prune4rel_agree")
FRACTIONS = (0.2, 0.4, 0.6, 0.8)
N_TRAIN = 50_000
BUDGET_S = 540.0
#: H100 / H200 memory bandwidth (3.35 / 4.8 TB/s)
H100_FACTOR = 0.70
MARGIN = 0.10
STARTUP_S = 15.0
#: decoding the 50,000 WebP training images (36.5 s measured on the 2-core CPU machine)
DATA_LOAD_S = 40.0
REPORT_S = 5.0
CHECKPOINT_BYTES_PER_S = 500e6
#: bytes of per-example SOP+ state: u, v (float32, 1 + C values) and the last prediction
SOP_STATE_BYTES = 4 * 11 + 8
MAX_WARMUP_EPOCHS = 10


@dataclass(frozen=True)
class Preset:
    """One protocol of this script.

    Attributes
    ----------
    name : str
    model : str
        Network (a :func:`prune4rel.models.build_model` name).
    noise : tuple of str
        CIFAR-10N label sets, one run directory each.
    params : dict
        SOP+ learner parameters, shared by warm-up and training.
    select_s : float
        Planned seconds of one Prune4ReL selection on the GPU.
    """

    name: str
    model: str
    noise: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    select_s: float = 2.0


def channels_last_supported() -> bool:
    """Whether the learners declare a ``channels_last`` parameter."""
    return "channels_last" in Learner.param_rules


def make_preset(name: str, device: str, threads: int | None, width: int | None) -> Preset:
    """The ``paper`` or ``fast`` preset on ``device``.

    Parameters
    ----------
    name : {"paper", "fast"}
    device : str
        "cpu" adds ``num_threads`` (and autocast is ignored there).
    threads : int, optional
        Torch threads of the learners on the CPU.
    width : int, optional
        Network width (PreActResNet18's first stage, airbench's first group), for smoke runs.

    Returns
    -------
    Preset
    """
    if name == "paper":
        model, params = learner_params("paper", "sop+", device, threads, None)
        params["amp"] = True
        if width is not None:
            params["model_kwargs"] = {"width": width}
        noise: tuple[str, ...] = ("worst",)
        select_s = 2.0
    else:
        widths = None if width is None else [width, 4 * width, 4 * width]
        model, params = learner_params("fast", "sop+", "cuda", None, widths)
        if device == "cpu" and threads is not None:
            params["num_threads"] = threads
        noise, select_s = ("random1", "aggre"), 1.0
    if channels_last_supported():
        params["channels_last"] = True
    return Preset(name, model, noise, params, select_s)


def forward_macs(model: nn.Module, input_shape: tuple[int, ...] = (3, 32, 32)) -> int:
    """Multiply-accumulates of one forward pass of one input, over its Conv2d and Linear layers.

    Parameters
    ----------
    model : nn.Module
    input_shape : tuple of int

    Returns
    -------
    int
        BatchNorm, activations and pooling are not counted.
    """
    total = 0

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            total += output[0].numel() * per_output
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for h in handles:
        h.remove()
    return total


@functools.lru_cache
def network_cost(model: str, kwargs: tuple[tuple[str, Any], ...]) -> tuple[int, int]:
    """Forward multiply-accumulates at 32x32 and parameter count of a CIFAR-10 network.

    Parameters
    ----------
    model : str
        A :func:`prune4rel.models.build_model` name.
    kwargs : tuple of (name, value)
        Its keyword arguments (hashable, for the cache).

    Returns
    -------
    macs, params : int
    """
    net = build_model(model, 10, input_shape=(3, 32, 32), **dict(kwargs))
    return forward_macs(net), sum(p.numel() for p in net.parameters())


def measured_rates(folder: Path = HERE) -> dict[str, Any]:
    """Example-epochs per second measured with airbench on the H200 (the plan's reference).

    Parameters
    ----------
    folder : Path
        Holds ``gpu_point_h200_results.json`` and ``airbench_clean_h200_results.json``.

    Returns
    -------
    dict
        ``sop`` (SOP+, batch 512, two views: training example-epochs over training seconds of
        the cells), ``warmup_s`` and ``warmup_example_epochs`` of its warm-up, and ``ce`` (CE,
        batch 1024, one view: median over the runs after the first).
    """
    point = json.loads((folder / "gpu_point_h200_results.json").read_text())
    jobs = point["jobs"]
    epochs = point["args"]["epochs"]
    example_epochs = sum(j["size"] * epochs for j in jobs)
    seconds = sum(j["seconds"] - j["select_s"] for j in jobs)
    clean = json.loads((folder / "airbench_clean_h200_results.json").read_text())
    ce_s = statistics.median(r["seconds"] for r in clean[1:])
    return {
        "device": point["device"],
        "sop": example_epochs / seconds, "sop_example_epochs": example_epochs, "sop_seconds": seconds,
        "warmup_s": point["warmup"]["seconds"],
        "warmup_example_epochs": point["data"]["n"] * point["warmup"]["epochs"],
        "ce": N_TRAIN * clean[0]["epochs"] / ce_s, "ce_seconds": ce_s,
    }


@dataclass
class Plan:
    """Epochs and expected seconds of one preset (see :func:`make_plan`)."""

    preset: str
    model: str
    macs: int
    rate: float
    warmup_epochs: int
    epochs: int
    stages: list[tuple[str, float, float]]  # (stage, example-epochs, seconds)
    budget_s: float
    channels_last: bool

    @property
    def total_s(self) -> float:
        """Planned seconds, margin excluded."""
        return sum(s for _, _, s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"preset": self.preset, "model": self.model, "macs": self.macs, "rate": round(self.rate),
                "warmup_epochs": self.warmup_epochs, "epochs": self.epochs,
                "stages": [[n, round(e), round(s, 1)] for n, e, s in self.stages],
                "total_s": round(self.total_s, 1), "budget_s": self.budget_s,
                "channels_last": self.channels_last}

    def describe(self) -> str:
        """The plan as printed by ``--dry-run``."""
        lines = [
            f"preset {self.preset}: {self.model}, {self.macs / 1e9:.3f} G multiply-accumulates per "
            f"32x32 forward; planned rate {self.rate:,.0f} example-epochs/s",
            f"warm-up {self.warmup_epochs} epochs, training {self.epochs} epochs per cell; channels_last "
            + ("on" if self.channels_last else "not supported by prune4rel.learners: NCHW"),
            f"{'stage':46s} {'example-epochs':>15s} {'seconds':>8s}",
        ]
        lines += [f"{n:46s} {e:15,.0f} {s:8.1f}" for n, e, s in self.stages]
        example_epochs = sum(e for _, e, _ in self.stages)
        lines.append(f"{'total':46s} {example_epochs:15,.0f} {self.total_s:8.1f}  of {self.budget_s:.0f} s "
                     f"({self.total_s / self.budget_s:.0%}; {MARGIN:.0%} of the budget kept as margin)")
        return "\n".join(lines)


def make_plan(preset: Preset, rates: dict[str, Any], budget_s: float = BUDGET_S,
              device_factor: float = H100_FACTOR, n: int = N_TRAIN, epochs: int | None = None,
              warmup_epochs: int | None = None) -> Plan:
    """Size the epochs of ``preset`` to ``budget_s`` from FLOPs and the measured airbench rate.

    Parameters
    ----------
    preset : Preset
    rates : dict
        From :func:`measured_rates`.
    budget_s : float
    device_factor : float
        Speed of the target GPU relative to the H200 of the measurements.
    n : int
        Training examples.
    epochs, warmup_epochs : int, optional
        Fixed instead of sized.

    Returns
    -------
    Plan
    """
    kwargs = preset.params.get("model_kwargs", {})
    macs, params = network_cost(preset.model, tuple((k, tuple(v) if isinstance(v, list) else v)
                                                    for k, v in sorted(kwargs.items())))
    reference, _ = network_cost("airbench", ())
    rate = rates["sop"] * device_factor * reference / macs
    ckpt_s = (8 * params + SOP_STATE_BYTES * n) / CHECKPOINT_BYTES_PER_S
    first_fit_s = rates["warmup_s"] - rates["warmup_example_epochs"] / rates["sop"]
    runs = len(preset.noise)
    cells = [(f, m) for f in FRACTIONS for m in METHODS]
    prune4rel_selections = sum(m.startswith("prune4rel") for _, m in cells)
    fixed = STARTUP_S + REPORT_S + runs * (DATA_LOAD_S + first_fit_s + prune4rel_selections * preset.select_s)
    available = budget_s * (1 - MARGIN) - fixed
    per_warmup_epoch = runs * (n / rate + ckpt_s)
    per_epoch = runs * sum(round(f * n) / rate + ckpt_s for f, _ in cells)

    def fitting(warm: int) -> int:
        return int((available - warm * per_warmup_epoch) // per_epoch)

    if epochs is None:
        epochs = max(1, fitting(warmup_epochs or 1))
    if warmup_epochs is None:
        warmup_epochs = max([w for w in range(1, MAX_WARMUP_EPOCHS + 1) if fitting(w) >= epochs], default=1)
    stages: list[tuple[str, float, float]] = [
        ("start-up", 0, STARTUP_S),
        (f"load data ({runs} x)", 0, runs * DATA_LOAD_S),
        (f"first-fit set-up ({runs} x)", 0, runs * first_fit_s),
        (f"warm-up {warmup_epochs} ep x {n:,} ({runs} x)", runs * warmup_epochs * n,
         warmup_epochs * per_warmup_epoch),
        (f"selections ({runs} x {prune4rel_selections} Prune4ReL)", 0,
         runs * prune4rel_selections * preset.select_s),
    ]
    for f in FRACTIONS:
        size = round(f * n)
        stages.append((f"train {f:.1f}: {len(METHODS)} x {epochs} ep x {size:,} ({runs} x)",
                       runs * len(METHODS) * epochs * size,
                       runs * len(METHODS) * epochs * (size / rate + ckpt_s)))
    stages.append(("report and plot", 0, REPORT_S))
    return Plan(preset.name, preset.model, macs, rate, warmup_epochs, epochs, stages, budget_s,
                "channels_last" in preset.params)
