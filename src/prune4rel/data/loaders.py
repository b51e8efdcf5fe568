"""Dataset loaders: scikit-learn digits with synthetic noise, CIFAR-10N and CIFAR-100N.

Image folders, CSV files and the large web-scale sets (WebVision, Clothing-1M, ImageNet) are
in :mod:`prune4rel.data.layouts`.

CIFAR-10N is read from a folder laid out like the project's shared data folder::

    root/cifar10.npz          x_train (50000, 32, 32, 3) uint8, y_train (50000,),
                              x_test_exact1k (1000, 32, 32, 3) uint8, y_test_exact1k (1000,),
                              x_test_jpeg (10000, 32, 32, 3) uint8, y_test_jpeg (10000,)
    root/cifar10n_labels.npz  clean_label, aggre_label, worse_label,
                              random_label1, random_label2, random_label3   (each (50000,))

or, with ``download=True``, from torchvision's CIFAR-10 plus the CIFAR-10N label file
``CIFAR-10_human.pt`` of the authors' repository (needs internet and torchvision).
"""

from __future__ import annotations

import math
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from prune4rel.data.checks import check_limit
from prune4rel.data.compressed import COMPRESSED_CIFAR10, read_compressed_cifar10
from prune4rel.data.dataset import NoisyDataset
from prune4rel.data.noise import asymmetric_noise, symmetric_noise

__all__ = [
    "CIFAR10N_LABEL_SETS",
    "CIFAR10_CLASSES",
    "CIFAR100N_LABEL_SETS",
    "CIFAR100_CLASSES",
    "load_cifar10n",
    "load_cifar100n",
    "load_digits_noisy",
]

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
#: label_set argument -> key in cifar10n_labels.npz / CIFAR-10_human.pt
CIFAR10N_LABEL_SETS = {
    "worst": "worse_label",
    "aggre": "aggre_label",
    "random1": "random_label1",
    "random2": "random_label2",
    "random3": "random_label3",
    "clean": "clean_label",
}
#: Folder of the CIFAR-10N / CIFAR-100N label files in the authors' repository.
_CIFARN_LABELS_URL = "https://github.com/UCSC-REAL/cifar-10-100n/raw/main/data/"
_LAYOUT = (
    "expected layout: <root>/cifar10.npz (x_train, y_train, x_test_exact1k, y_test_exact1k, "
    "x_test_jpeg, y_test_jpeg) and <root>/cifar10n_labels.npz (clean_label, worse_label, "
    "aggre_label, random_label1..3); or pass download=True to fetch CIFAR-10 with torchvision"
)


def load_digits_noisy(
    noise_rate: float = 0.4,
    seed: int = 0,
    test_size: float = 0.3,
    *,
    noise: str = "symmetric",
) -> NoisyDataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes) with synthetic noise.

    No download is needed. Images are returned as (N, 8, 8, 1) uint8 (the 0..16 grey levels
    scaled to 0..255). The train/test split is stratified and seeded.

    Parameters
    ----------
    noise_rate : float
        Share of training labels to corrupt, in ``[0, 1]``.
    seed : int
        Seed of the split and of the noise.
    test_size : float
        Share of the 1,797 images held out as the clean test set, in ``(0, 1)``.
    noise : {"symmetric", "asymmetric"}
        Noise model (see :func:`symmetric_noise`; asymmetric uses ``c -> c + 1 mod 10``).

    Returns
    -------
    NoisyDataset
        ``meta`` records the noise model, requested and realised rates and the seed.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
        raise ValueError(f"`test_size` must be a float in (0, 1), got {test_size!r}")
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    if noise == "symmetric":
        noisy, realised = symmetric_noise(y_tr, noise_rate, 10, seed=seed)
    elif noise == "asymmetric":
        noisy, realised = asymmetric_noise(y_tr, noise_rate, 10, seed=seed, mapping="next")
    else:
        raise ValueError(f"`noise` must be 'symmetric' or 'asymmetric', got {noise!r}")
    return NoisyDataset(
        x=x_tr,
        noisy_labels=noisy,
        x_test=x_te,
        y_test=y_te,
        num_classes=10,
        clean_labels=y_tr,
        test_set=f"digits-holdout{len(y_te)}-seed{seed}",
        name="digits",
        class_names=tuple(str(d) for d in range(10)),
        meta={"noise": noise, "noise_rate": noise_rate, "realised_noise_rate": realised,
              "seed": seed},
    )


def _read_npz_rows(path: Path, key: str, stop: int | None = None) -> np.ndarray:
    """Read array ``key`` from an ``.npz`` file, only its first ``stop`` rows if given.

    Reading a prefix streams and decompresses only that prefix of the member, so a handful
    of CIFAR images loads in milliseconds instead of inflating the whole 150 MB array.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read {path}: not a readable .npz file ({exc}); {_LAYOUT}") from exc
    with zf:
        member = f"{key}.npy"
        if member not in zf.namelist():
            have = sorted(m.removesuffix(".npy") for m in zf.namelist())
            raise ValueError(f"{path} has no array {key!r} (it has {have}); {_LAYOUT}")
        with zf.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            if dtype.hasobject:
                raise ValueError(f"{path}:{key} holds Python objects; refusing to unpickle")
            rows = shape[0] if (stop is None or not shape) else min(int(stop), shape[0])
            if fortran and rows != (shape[0] if shape else rows):
                raise ValueError(f"{path}:{key} is Fortran-ordered; cannot read a prefix")
            out_shape = (rows, *shape[1:]) if shape else ()
            count = math.prod(out_shape) if out_shape else 1
            buf = fh.read(count * dtype.itemsize)
            if len(buf) != count * dtype.itemsize:
                raise ValueError(f"{path}:{key} is truncated")
            arr = np.frombuffer(buf, dtype=dtype, count=count)
            if fortran:
                return arr.reshape(out_shape[::-1]).T.copy()
            return arr.reshape(out_shape).copy()


def load_cifar10n(
    root: str | Path,
    label_set: str = "worst",
    test: str = "exact1k",
    *,
    download: bool = False,
    max_train: int | None = None,
    max_test: int | None = None,
) -> NoisyDataset:
    """CIFAR-10 images with CIFAR-10N human noisy labels (Wei et al., ICLR 2022).

    Parameters
    ----------
    root : path
        Folder with ``cifar10.npz`` and ``cifar10n_labels.npz`` (see the module docstring);
        without ``cifar10.npz``, the compressed copy ``cifar10_small_webpq95.npz`` is used
        (lossy WebP training images, exact PNG test images; recorded in ``meta``). Or, with
        ``download=True``, where torchvision's CIFAR-10 and ``CIFAR-10_human.pt``
        are stored/downloaded.
    label_set : {"worst", "aggre", "random1", "random2", "random3", "clean"}
        Which CIFAR-10N labels to train on (noise rates 40.2%, 9.0%, 17.2%, 18.1%, 17.6%).
    test : {"exact1k", "jpeg10k", "full10k"}
        ``"exact1k"``: the first 1,000 standard test images, bit-exact. ``"jpeg10k"``: all
        10,000 test images decoded from JPEG (accuracy runs a few points lower; sorted by
        class). ``"full10k"``: the exact 10,000-image test set, only with ``download=True``.
        The choice is recorded in :attr:`NoisyDataset.test_set`.
    download : bool
        Fetch through torchvision (and the CIFAR-10N label file) when the ``.npz`` files are
        absent. Requires internet and ``torchvision``.
    max_train, max_test : int, optional
        Load only the first examples (for smoke tests and quick looks).

    Returns
    -------
    NoisyDataset
        Clean training labels come from CIFAR-10N's ``clean_label``.

    Raises
    ------
    ValueError
        For an unknown ``label_set`` / ``test``, or when a file is missing or lacks an
        array (the message names the file and the expected layout).
    """
    if label_set not in CIFAR10N_LABEL_SETS:
        raise ValueError(
            f"`label_set` must be one of {sorted(CIFAR10N_LABEL_SETS)}, got {label_set!r}"
        )
    if test not in ("exact1k", "jpeg10k", "full10k"):
        raise ValueError(f"`test` must be 'exact1k', 'jpeg10k' or 'full10k', got {test!r}")
    check_limit("max_train", max_train)
    check_limit("max_test", max_test)
    root = Path(root)
    images, labels_file = root / "cifar10.npz", root / "cifar10n_labels.npz"
    compressed = root / COMPRESSED_CIFAR10
    if not images.is_file() and compressed.is_file():
        images = compressed
    missing = [p for p in (images, labels_file) if not p.is_file()]
    if missing and not download:
        raise ValueError(f"CIFAR-10N file not found: {missing[0]}; {_LAYOUT}")
    if missing:
        x, y_clean, noisy, x_te, y_te = _download_cifar10n(root, label_set, test)
        x, y_clean, noisy = x[:max_train], y_clean[:max_train], noisy[:max_train]
        x_te, y_te = x_te[:max_test], y_te[:max_test]
        source = "torchvision"
    else:
        if test == "full10k":
            raise ValueError(
                "test='full10k' needs the exact 10k test set, which the .npz layout does not "
                "hold; use test='exact1k' (bit-exact first 1,000) or 'jpeg10k', or download=True"
            )
        if images == compressed:
            x, y_train, x_te, y_te = read_compressed_cifar10(images, test, max_train, max_test)
        else:
            x = _read_npz_rows(images, "x_train", max_train)
            y_train = _read_npz_rows(images, "y_train", max_train).astype(np.int64)
            key = "exact1k" if test == "exact1k" else "jpeg"
            x_te = _read_npz_rows(images, f"x_test_{key}", max_test)
            y_te = _read_npz_rows(images, f"y_test_{key}", max_test).astype(np.int64)
        noisy = _read_npz_rows(labels_file, CIFAR10N_LABEL_SETS[label_set], max_train)
        y_clean = _read_npz_rows(labels_file, "clean_label", max_train).astype(np.int64)
        if not np.array_equal(y_clean, y_train):
            raise ValueError(
                f"{labels_file} clean_label disagrees with {images} y_train: the two files do "
                "not describe the same (standard-order) CIFAR-10 training set"
            )
        source = str(root)
    if x.shape[1:] != (32, 32, 3) or x.dtype != np.uint8:
        raise ValueError(f"CIFAR-10 images must be (N, 32, 32, 3) uint8, got {x.shape} {x.dtype}")
    noisy = np.asarray(noisy).astype(np.int64)
    full = f" (first {len(y_te)})" if max_test is not None else ""
    return NoisyDataset(
        x=x,
        noisy_labels=noisy,
        x_test=x_te,
        y_test=y_te,
        num_classes=10,
        clean_labels=y_clean,
        test_set=f"cifar10-{test}{full}",
        name=f"cifar10n-{label_set}",
        class_names=CIFAR10_CLASSES,
        meta={
            "label_set": label_set,
            "source": source,
            "test": test,
            "train_images": "webp-q95 (lossy)" if images == compressed else "exact",
        },
    )


def _download_cifar10n(
    root: Path, label_set: str, test: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 via torchvision plus CIFAR-10N labels from the authors' repository."""
    if test == "jpeg10k":
        raise ValueError("test='jpeg10k' exists only in the .npz layout; use 'full10k' or 'exact1k'")
    x, y_train, x_te, y_te = _torchvision_cifar("CIFAR10", root, _LAYOUT)
    human = root / "CIFAR-10_human.pt"
    labels = _human_labels(human)
    y_clean = np.asarray(labels["clean_label"], dtype=np.int64)
    if not np.array_equal(y_clean, y_train):
        raise ValueError(f"{human} clean_label disagrees with torchvision's CIFAR-10 labels")
    noisy = np.asarray(labels[CIFAR10N_LABEL_SETS[label_set]], dtype=np.int64)
    if test == "exact1k":
        x_te, y_te = x_te[:1000], y_te[:1000]
    return x, y_clean, noisy, x_te, y_te


# ---------------------------------------------------------------------------- CIFAR-100N
#: The 100 fine CIFAR-100 classes in label order.
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
#: label_set argument -> key in cifar100n_labels.npz / CIFAR-100_human.pt
CIFAR100N_LABEL_SETS = {"noisy": "noisy_label", "clean": "clean_label"}
_LAYOUT100 = (
    "expected layout: <root>/cifar100.npz (x_train (50000, 32, 32, 3) uint8, y_train (50000,), "
    "x_test (10000, 32, 32, 3) uint8, y_test (10000,), standard order) and "
    "<root>/cifar100n_labels.npz (clean_label, noisy_label; each (50000,)), or "
    "`labels_file=` naming the label file; or pass download=True to fetch CIFAR-100 with "
    "torchvision"
)


def load_cifar100n(
    root: str | Path,
    label_set: str = "noisy",
    test: str = "full10k",
    *,
    labels_file: str | Path | None = None,
    download: bool = False,
    max_train: int | None = None,
    max_test: int | None = None,
) -> NoisyDataset:
    """CIFAR-100 images with CIFAR-100N human noisy labels (Wei et al., ICLR 2022; 40.2% noise).

    The images are not shipped with prune4rel; they come from a folder the user names::

        root/cifar100.npz          x_train (50000, 32, 32, 3) uint8, y_train (50000,) int,
                                   x_test (10000, 32, 32, 3) uint8, y_test (10000,) int
                                   (standard CIFAR-100 order, fine labels)
        root/cifar100n_labels.npz  clean_label, noisy_label (each (50000,); optionally
                                   clean_coarse_label, noisy_coarse_label, unused here)

    (write the first with ``numpy.savez(path, x_train=..., y_train=..., x_test=...,
    y_test=...)`` from any CIFAR-100 copy), or, with ``download=True``, torchvision's
    CIFAR-100 plus the authors' ``CIFAR-100_human.pt``.

    Parameters
    ----------
    root : path
        Folder with ``cifar100.npz`` (and the label file unless ``labels_file`` is given);
        with ``download=True``, where torchvision's files are stored/downloaded.
    label_set : {"noisy", "clean"}
        Train on CIFAR-100N's human labels or on the clean ones.
    test : {"full10k"}
        The full CIFAR-100 test set (the only one; recorded in ``test_set``).
    labels_file : path, optional
        The CIFAR-100N label ``.npz`` if it lives elsewhere (default
        ``root/cifar100n_labels.npz``).
    download : bool
        Fetch through torchvision (and the CIFAR-100N label file) when ``cifar100.npz`` is
        absent. Needs internet and ``torchvision``.
    max_train, max_test : int, optional
        Load only the first examples (the label file is read to the same length).

    Returns
    -------
    NoisyDataset
        100 classes; clean training labels from CIFAR-100N's ``clean_label``.

    Raises
    ------
    ValueError
        For an unknown ``label_set`` / ``test``, a missing file or array (the message names
        the file and the expected layout), images that are not (N, 32, 32, 3) uint8, label
        arrays of another length than the images, or clean labels that disagree with
        ``y_train`` (the two files then describe different orderings).
    """
    if label_set not in CIFAR100N_LABEL_SETS:
        raise ValueError(
            f"`label_set` must be one of {sorted(CIFAR100N_LABEL_SETS)}, got {label_set!r}"
        )
    if test != "full10k":
        raise ValueError(f"`test` must be 'full10k' (CIFAR-100's test set), got {test!r}")
    check_limit("max_train", max_train)
    check_limit("max_test", max_test)
    root = Path(root)
    images = root / "cifar100.npz"
    labels_path = Path(labels_file) if labels_file is not None else root / "cifar100n_labels.npz"
    if labels_file is not None and not labels_path.is_file():
        raise ValueError(f"`labels_file` {labels_path} does not exist; {_LAYOUT100}")
    if not images.is_file():
        if not download:
            raise ValueError(f"CIFAR-100 file not found: {images}; {_LAYOUT100}")
        x, y_train, x_te, y_te = _torchvision_cifar("CIFAR100", root, _LAYOUT100)
        if labels_path.is_file():
            clean = _read_npz_rows(labels_path, "clean_label")
            noisy = _read_npz_rows(labels_path, CIFAR100N_LABEL_SETS[label_set])
        else:
            labels = _human_labels(root / "CIFAR-100_human.pt")
            clean = np.asarray(labels["clean_label"], dtype=np.int64)
            noisy = np.asarray(labels[CIFAR100N_LABEL_SETS[label_set]], dtype=np.int64)
        x, y_train = x[:max_train], y_train[:max_train]
        clean, noisy = clean[:max_train], noisy[:max_train]
        x_te, y_te = x_te[:max_test], y_te[:max_test]
        source = "torchvision"
    else:
        if not labels_path.is_file():
            raise ValueError(f"CIFAR-100N label file not found: {labels_path}; {_LAYOUT100}")
        x = _read_npz_rows(images, "x_train", max_train)
        y_train = _read_npz_rows(images, "y_train", max_train)
        x_te = _read_npz_rows(images, "x_test", max_test)
        y_te = _read_npz_rows(images, "y_test", max_test)
        clean = _read_npz_rows(labels_path, "clean_label", max_train)
        noisy = _read_npz_rows(labels_path, CIFAR100N_LABEL_SETS[label_set], max_train)
        source = str(root)
    for name, arr in (("x_train", x), ("x_test", x_te)):
        if arr.ndim != 4 or arr.shape[1:] != (32, 32, 3) or arr.dtype != np.uint8:
            raise ValueError(
                f"CIFAR-100 `{name}` must be (N, 32, 32, 3) uint8, got {arr.shape} {arr.dtype}; "
                f"{_LAYOUT100}"
            )
    if not (len(clean) == len(noisy) == len(y_train) == len(x)):
        raise ValueError(
            f"{labels_path} holds {len(clean)} labels but there are {len(x)} training images "
            f"(y_train: {len(y_train)}): the files do not describe the same training set"
        )
    y_train = np.asarray(y_train).astype(np.int64)
    clean = np.asarray(clean).astype(np.int64)
    if not np.array_equal(clean, y_train):
        bad = int(np.flatnonzero(clean != y_train)[0])
        raise ValueError(
            f"{labels_path} clean_label disagrees with the CIFAR-100 y_train (first at index "
            f"{bad}: {clean[bad]} vs {y_train[bad]}): the two files do not describe the same "
            "(standard-order) CIFAR-100 training set"
        )
    full = f" (first {len(y_te)})" if max_test is not None else ""
    return NoisyDataset(
        x=x,
        noisy_labels=np.asarray(noisy).astype(np.int64),
        x_test=x_te,
        y_test=np.asarray(y_te).astype(np.int64),
        num_classes=100,
        clean_labels=clean,
        test_set=f"cifar100-{test}{full}",
        name=f"cifar100n-{label_set}",
        class_names=CIFAR100_CLASSES,
        meta={"label_set": label_set, "source": source, "test": test, "labels_file": str(labels_path)},
    )


def _torchvision_cifar(
    name: str, root: Path, layout: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """torchvision's ``CIFAR10`` or ``CIFAR100`` (fine labels), downloaded into ``root``.

    Returns
    -------
    x_train, y_train, x_test, y_test : ndarray
        uint8 images (N, 32, 32, 3) and int64 labels, in the standard order.
    """
    try:
        from torchvision import datasets  # lazy: torchvision is optional
    except ImportError as exc:
        raise ValueError(
            "download=True needs torchvision (pip install torchvision, the build matching your "
            f"torch); or provide the .npz files: {layout}"
        ) from exc
    root.mkdir(parents=True, exist_ok=True)
    cifar = getattr(datasets, name)
    train = cifar(str(root), train=True, download=True)
    test_ds = cifar(str(root), train=False, download=True)
    return (
        np.asarray(train.data, dtype=np.uint8),
        np.asarray(train.targets, dtype=np.int64),
        np.asarray(test_ds.data, dtype=np.uint8),
        np.asarray(test_ds.targets, dtype=np.int64),
    )


def _human_labels(path: Path) -> dict[str, Any]:
    """The CIFAR-N authors' label file (``CIFAR-10_human.pt`` / ``CIFAR-100_human.pt``),
    downloaded from their repository to ``path`` unless it is there."""
    import torch

    if not path.is_file():
        tmp = path.with_suffix(".part")
        urllib.request.urlretrieve(_CIFARN_LABELS_URL + path.name, tmp)  # fixed https URL
        tmp.replace(path)
    # The official label file is a pickled dict of numpy arrays; it cannot be read with
    # weights_only=True. The user opted in with download=True from the authors' URL.
    return dict(torch.load(path, weights_only=False))
