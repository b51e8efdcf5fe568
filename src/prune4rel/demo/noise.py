"""Human-like label noise for the demo's digits: flips toward the class an image looks like.

CIFAR-10N's noise comes from people: an annotator mislabels the images that are hard to
read, and names the class the image resembles (a cat called a dog, rarely a truck). Uniform
symmetric flips have neither property. Here a *weak annotator* stands in for the person: a
logistic regression that sees each digit blurred to 4x4 pixels and is trained on the other
four fifths of the training set (out-of-fold, so it never saw the image it judges). It is
right on 85-86% of the images, close to one CIFAR-10N annotator (random1: 82.8% right).

From its probabilities ``q`` and the true class ``y`` of each training image:

* *which* images are flipped: exactly ``round(rate * n)`` of them, drawn without replacement
  with weights ``1 - q[y] + 0.001`` (images the annotator finds hard are flipped more
  often, every image can be), no class losing more than ``class_cap`` of its labels;
* *to what*: a class ``c != y`` drawn with probability proportional to ``q[c] ** sharpness``.

With ``rate=0.4`` (seeds 0-4) this gives per-class noise rates of 23-51% and sends 32-38% of
the flips of a class to its most frequent wrong label; CIFAR-10N worst has 28-51% and 36% (and
random1, 17.2% overall: 10-26% and 38%). ``class_cap`` = 0.51 is worst's largest per-class
rate; ``sharpness`` = 1.5 was set to match that 36% (1 gave 30%, 2 gave 40%, mean of five
draws on one split).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from prune4rel.data import NoisyDataset, load_digits_noisy

__all__ = [
    "NoiseProfile",
    "confusion_flips",
    "load_digits_confusion",
    "noise_profile",
    "weak_annotator",
]

#: Floor of the flip weight: an image the annotator is sure of can still be mislabelled.
_EPSILON = 1e-3


@dataclass(frozen=True)
class NoiseProfile:
    """Summary of a noisy labelling against the clean one.

    Attributes
    ----------
    rate : float
        Share of wrong labels.
    class_min, class_max : float
        Lowest and highest per-class share of wrong labels (over the true classes).
    top_share : float
        Share of the wrong labels that go to their true class's most frequent wrong label.
    """

    rate: float
    class_min: float
    class_max: float
    top_share: float


def noise_profile(clean: np.ndarray, noisy: np.ndarray, num_classes: int) -> NoiseProfile:
    """Rate, per-class range and concentration of the noise in ``noisy``."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (clean, noisy), 1)
    per_class = counts.sum(axis=1)
    wrong = counts.copy()
    np.fill_diagonal(wrong, 0)
    present = per_class > 0
    class_rates = wrong.sum(axis=1)[present] / per_class[present]
    flips = int(wrong.sum())
    return NoiseProfile(
        rate=float(flips / max(1, clean.size)),
        class_min=float(class_rates.min()),
        class_max=float(class_rates.max()),
        top_share=float(wrong.max(axis=1).sum() / flips) if flips else 0.0,
    )


def weak_annotator(images: np.ndarray, labels: np.ndarray, seed: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold class probabilities of a logistic regression on 2x2-pooled images.

    Parameters
    ----------
    images : ndarray, shape (n, H, W, 1) with even H and W
        The training images.
    labels : ndarray of int, shape (n,)
        Their true classes.
    seed : int
        Seeds the fold split.
    folds : int
        Cross-validation folds: each image is judged by a model fit on the other folds.

    Returns
    -------
    ndarray of float64, shape (n, C)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n, h, w = images.shape[:3]
    pixels = images.reshape(n, h, w).astype(np.float64) / 255.0
    pooled = pixels.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4)).reshape(n, -1)
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    model = LogisticRegression(C=1.0, max_iter=2000)
    probs = cross_val_predict(model, pooled, labels, cv=split, method="predict_proba")
    return np.asarray(probs, dtype=np.float64)


def confusion_flips(
    probs: np.ndarray,
    labels: np.ndarray,
    rate: float,
    seed: int,
    *,
    class_cap: float = 0.51,
    sharpness: float = 1.5,
) -> np.ndarray:
    """Noisy labels: hard images flipped toward the classes the annotator confuses them with.

    Parameters
    ----------
    probs : ndarray, shape (n, C)
        The annotator's class probabilities per image (rows sum to 1).
    labels : ndarray of int, shape (n,)
        True classes.
    rate : float
        Share of labels to flip, in [0, class_cap].
    seed : int
        Seeds which images flip and their new labels.
    class_cap : float
        Largest share of any one class that may be flipped.
    sharpness : float
        Exponent on the probabilities of the wrong classes when drawing the new label
        (1: as the annotator's probabilities; larger: more often its top confusion).

    Returns
    -------
    ndarray of int64, shape (n,)
        Exactly ``round(rate * n)`` entries differ from ``labels``.

    Raises
    ------
    ValueError
        When ``rate`` is outside [0, class_cap] or the caps leave too few images to flip.
    """
    if not (math.isfinite(rate) and 0.0 <= rate <= class_cap):
        raise ValueError(f"`rate` must be in [0, {class_cap}], got {rate!r}")
    y = np.asarray(labels, dtype=np.int64)
    n, num_classes = probs.shape
    k = round(rate * n)
    rng = np.random.default_rng(seed)
    # weighted sampling without replacement: the k largest of log(weight) + Gumbel noise
    weight = 1.0 - probs[np.arange(n), y] + _EPSILON
    order = np.argsort(-(np.log(weight) + rng.gumbel(size=n)), kind="stable")
    room = np.floor(class_cap * np.bincount(y, minlength=num_classes)).astype(np.int64)
    chosen: list[int] = []
    for i in order:
        if len(chosen) == k:
            break
        if room[y[i]] > 0:
            room[y[i]] -= 1
            chosen.append(int(i))
    if len(chosen) < k:
        raise ValueError(f"`class_cap` {class_cap} allows only {len(chosen)} flips, {k} asked")
    noisy = y.copy()
    for i in chosen:
        weights = probs[i] ** sharpness + 1e-12
        weights[y[i]] = 0.0
        noisy[i] = rng.choice(num_classes, p=weights / weights.sum())
    return noisy


def load_digits_confusion(rate: float, seed: int) -> NoisyDataset:
    """scikit-learn's digits (70/30 split by ``seed``) with :func:`confusion_flips` noise.

    Returns
    -------
    NoisyDataset
        ``meta`` records the noise model, the realised rate and the annotator's accuracy.
    """
    clean = load_digits_noisy(0.0, seed=seed)
    assert clean.clean_labels is not None
    probs = weak_annotator(clean.x, clean.clean_labels, seed)
    noisy = confusion_flips(probs, clean.clean_labels, rate, seed)
    return clean.with_labels(
        noisy, noise="confusion", noise_rate=rate,
        realised_noise_rate=float(np.mean(noisy != clean.clean_labels)),
        annotator_accuracy=float(np.mean(probs.argmax(axis=1) == clean.clean_labels)),
    )
