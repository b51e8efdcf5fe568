"""ResNet-50 wrapper: the EmbeddingModel contract (embed (B, 2048), forward = head(embed)).

torchvision is optional (and PyPI's wheel does not import beside every torch build), so the
real-network test skips without it; the wrapper's plumbing and the install message are
tested with a stand-in module.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from prune4rel.models import MODEL_NAMES, ResNet50, build_model


def _torchvision_or_skip() -> None:
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # ImportError, or an operator/ABI error from a mismatched build
        pytest.skip(f"torchvision is not importable here ({type(exc).__name__}: {exc}); "
                    "install the build matching this torch to run the real ResNet-50 test")


class _FakeResNet(nn.Module):
    """Stand-in with torchvision ResNet's attribute names (conv1, maxpool, fc)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.body = nn.Conv2d(64, 2048, 1)
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.maxpool(self.conv1(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


@pytest.fixture
def fake_torchvision(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []

    def resnet50(weights: str | None = None) -> nn.Module:
        calls.append(weights)
        return _FakeResNet()

    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(resnet50=resnet50)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    return calls


def test_registered() -> None:
    assert "resnet50" in MODEL_NAMES


def test_clear_import_error_without_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` fail
    with pytest.raises(ImportError, match=r"pip install torchvision") as info:
        build_model("resnet50", 10)
    assert torch.__version__ in str(info.value)


def test_contract_with_stand_in(fake_torchvision: list) -> None:
    torch.manual_seed(0)
    model = build_model("resnet50", 7, input_shape=(3, 32, 32)).eval()
    assert isinstance(model, ResNet50) and model.embedding_dim == 2048
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        z, logits = model.embed(x), model(x)
    assert z.shape == (2, 2048) and logits.shape == (2, 7)
    torch.testing.assert_close(logits, model.head(z))
    assert fake_torchvision == [None]


def test_stem_variants_and_pretrained_head(fake_torchvision: list) -> None:
    grey = ResNet50(in_channels=1, num_classes=5)
    assert grey.backbone.conv1.in_channels == 1 and grey.backbone.conv1.stride == (2, 2)
    small = ResNet50(in_channels=3, num_classes=5, cifar_stem=True)
    assert small.backbone.conv1.kernel_size == (3, 3) and isinstance(small.backbone.maxpool, nn.Identity)
    pre = ResNet50(num_classes=1000, weights="IMAGENET1K_V2")
    assert fake_torchvision[-1] == "IMAGENET1K_V2" and pre.head.out_features == 1000
    with torch.no_grad():
        assert grey.embed(torch.randn(1, 1, 16, 16)).shape == (1, 2048)


def test_real_torchvision_resnet50() -> None:
    _torchvision_or_skip()
    torch.manual_seed(0)
    model = build_model("resnet50", 10, input_shape=(3, 64, 64)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        z, logits = model.embed(x), model(x)
    assert z.shape == (2, 2048) and logits.shape == (2, 10)
    torch.testing.assert_close(logits, model.head(z))
