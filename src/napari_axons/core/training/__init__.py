"""Training a segmentation checkpoint from corrected exports.

* :mod:`.data`: labelled tiles, the class table, the validation split;
* :mod:`.samples`: tiles in memory at the training pixel size, random crops;
* :mod:`.augment`: micrograph augmentations;
* :mod:`.models`: the architecture built from config, or a base checkpoint
  (a built-in model by name, or a local folder);
* :mod:`.schedule`: the budget, learning-rate schedule, validation cadence,
  stopping rule;
* :mod:`.loss`: loss and validation metrics;
* :mod:`.callbacks`: the Trainer callbacks (history, clock, best weights);
* :mod:`.evaluate`: scores on held-out tiles (base and result);
* :mod:`.run`: the run (transformers' ``Trainer``); :mod:`.folders`: its folders;
* :mod:`.report`: ``training.json``, the curve PNG, ``napari_axons.json``.

Nothing here imports torch or transformers at module level.
"""

from .data import TrainingDataError, collect, split_tiles
from .options import TrainingError, TrainOptions, TrainResult
from .run import train

__all__ = ["TrainOptions", "TrainResult", "TrainingDataError", "TrainingError", "collect",
           "split_tiles", "train"]
