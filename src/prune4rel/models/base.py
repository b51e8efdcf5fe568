"""The model contract: ``embed(x) -> (B, d)`` penultimate features, ``forward = head(embed)``."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EmbeddingModel"]


class EmbeddingModel(nn.Module):
    """Base class of every prune4rel network.

    Subclasses build ``self.head`` (a module mapping ``(B, embedding_dim)`` features to
    ``(B, num_classes)`` logits) and implement :meth:`embed`. Learners and the warm-up only rely
    on :meth:`embed`, :meth:`forward` and :attr:`embedding_dim`, so a user's own network
    works if it follows the same contract.

    Attributes
    ----------
    embedding_dim : int
        ``d``, the width of :meth:`embed`'s output.
    num_classes : int
    """

    embedding_dim: int
    num_classes: int
    head: nn.Module

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features of a normalised batch.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W) for images or (B, F) for features

        Returns
        -------
        Tensor, shape (B, embedding_dim)
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (B, num_classes): ``head(embed(x))``."""
        return self.head(self.embed(x))

    def embed_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both outputs from one pass: ``(embeddings (B, d), logits (B, C))``."""
        z = self.embed(x)
        return z, self.head(z)
