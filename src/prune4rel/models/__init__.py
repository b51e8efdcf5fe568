"""Networks exposing ``embed(x) -> (B, d)``, ``forward(x) -> logits`` and ``embedding_dim``."""

from prune4rel.models.base import EmbeddingModel
from prune4rel.models.factory import MODEL_NAMES, build_model
from prune4rel.models.resnet50 import ResNet50
from prune4rel.models.resnets import AirbenchNet, PreActResNet18, ScaledLinear
from prune4rel.models.small import MLP, SmallCNN

__all__ = [
    "MLP",
    "MODEL_NAMES",
    "AirbenchNet",
    "EmbeddingModel",
    "PreActResNet18",
    "ResNet50",
    "ScaledLinear",
    "SmallCNN",
    "build_model",
]
