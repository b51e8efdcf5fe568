"""The external image-set layouts on disk, one module each, indexed as :class:`FileImageDataset`.

:mod:`~prune4rel.data.layouts.webvision`, :mod:`~prune4rel.data.layouts.clothing1m`,
:mod:`~prune4rel.data.layouts.imagenet` and :mod:`~prune4rel.data.layouts.image_csv` (any
labelled image list in a CSV) each document the files they expect under the ``root`` the
user names. The public loaders are exported from :mod:`prune4rel.data`.
"""
