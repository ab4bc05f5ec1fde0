"""Training a segmentation checkpoint from corrected exports.

* :mod:`.data`: labelled tiles, the class table, the validation split;
* :mod:`.augment`: micrograph augmentations;
* :mod:`.models`: the architecture built from config, or a ``--base`` checkpoint;
* :mod:`.run`: the run (transformers' ``Trainer``), folders, resume;
* :mod:`.report`: ``training.json``, the curve PNG, ``napari_axons.json``.

Nothing here imports torch or transformers at module level.
"""

from .data import TrainingDataError, collect, split_tiles
from .run import TrainingError, TrainOptions, TrainResult, train

__all__ = ["TrainOptions", "TrainResult", "TrainingDataError", "TrainingError", "collect",
           "split_tiles", "train"]
