"""The model to train: a documented architecture built from config, or a local base checkpoint.

Architectures built from config (no download; random initial weights), see
``docs/training.md`` for the measurements behind the default:

``upernet-convnext`` (default)
    UperNet over a small ConvNeXt (widths 32-64-128-256, depths 2-2-4-2,
    UperNet width 64; ~2.1 M parameters). Logits at the input size.
``segformer``
    SegFormer-b0's shape (widths 32-64-160-256, depths 2-2-2-2, decoder 256;
    ~3.7 M parameters). Logits at 1/4 of the input size.

The image processor saved beside the model is a SegFormer processor (ImageNet
mean and std, rescale 1/255) **without resizing**: the model sees tiles at
their own pixel size, as in training.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ARCHITECTURES", "BaseModelError", "build_model", "load_base", "new_processor",
           "normalisation"]

ARCHITECTURES = ("upernet-convnext", "segformer")


class BaseModelError(ValueError):
    """``--base`` cannot be used (one line for the user)."""


def _labels(names) -> tuple[dict, dict]:
    id2label = dict(enumerate(names))
    return id2label, {n: i for i, n in id2label.items()}


def build_model(arch: str, names):
    """A new model of architecture ``arch`` for the classes ``names`` (index 0 first)."""
    id2label, label2id = _labels(names)
    n = len(names)
    if arch == "segformer":
        from transformers import SegformerConfig, SegformerForSemanticSegmentation

        cfg = SegformerConfig(depths=[2, 2, 2, 2], hidden_sizes=[32, 64, 160, 256],
                              num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=256,
                              num_labels=n, id2label=id2label, label2id=label2id)
        return SegformerForSemanticSegmentation(cfg)
    if arch == "upernet-convnext":
        from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

        backbone = ConvNextConfig(hidden_sizes=[32, 64, 128, 256], depths=[2, 2, 4, 2],
                                  out_features=["stage1", "stage2", "stage3", "stage4"])
        cfg = UperNetConfig(backbone_config=backbone, hidden_size=64, use_auxiliary_head=False,
                            num_labels=n, id2label=id2label, label2id=label2id)
        return UperNetForSemanticSegmentation(cfg)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def new_processor():
    """The image processor saved with a model built from config (no resizing)."""
    from transformers import SegformerImageProcessor

    return SegformerImageProcessor(do_resize=False, do_reduce_labels=False)


def load_base(path, names):
    """``(model, processor)`` from a local checkpoint, set up for the classes ``names``.

    The classifier is replaced (new weights) when the class count differs
    (``ignore_mismatched_sizes``); ``id2label`` becomes ``names`` either way.
    The processor is the checkpoint's own with resizing turned off (a SegFormer
    processor when the folder has none).

    Raises
    ------
    BaseModelError
        Not a folder, no ``config.json``, not a semantic-segmentation model,
        no safetensors weights.
    """
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForSemanticSegmentation
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING

    p = Path(path).expanduser()
    if not p.is_dir():
        raise BaseModelError(f"{p}: --base is not a folder (expected a Hugging Face checkpoint)")
    if not (p / "config.json").is_file():
        raise BaseModelError(f"{p}: --base is not a Hugging Face checkpoint (no config.json)")
    try:
        cfg = AutoConfig.from_pretrained(p, local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise BaseModelError(f"{p}: --base config.json cannot be read "
                             f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    if type(cfg) not in MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING:
        raise BaseModelError(f"{p}: --base is not a semantic-segmentation checkpoint "
                             f"(model type {getattr(cfg, 'model_type', None)!r})")
    if not ((p / "model.safetensors").is_file() or (p / "model.safetensors.index.json").is_file()):
        raise BaseModelError(f"{p}: --base has no safetensors weights (model.safetensors)")
    id2label, label2id = _labels(names)
    try:
        model = AutoModelForSemanticSegmentation.from_pretrained(
            p, num_labels=len(names), id2label=id2label, label2id=label2id,
            ignore_mismatched_sizes=True, use_safetensors=True, local_files_only=True,
            trust_remote_code=False)
    except Exception as exc:
        raise BaseModelError(f"{p}: --base cannot be loaded "
                             f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    if (p / "preprocessor_config.json").is_file():
        try:
            processor = AutoImageProcessor.from_pretrained(p, local_files_only=True)
        except Exception as exc:
            raise BaseModelError(f"{p}: --base preprocessor_config.json cannot be read "
                                 f"({type(exc).__name__})") from None
        if hasattr(processor, "do_resize"):
            processor.do_resize = False
    else:
        processor = new_processor()
    return model, processor


def normalisation(processor):
    """``(scale, mean, std)``: the processor's pixel transform as ``(x * scale - mean) / std``.

    ``mean`` and ``std`` are ``(3, 1, 1)`` float32 tensors.
    """
    import torch

    scale = float(processor.rescale_factor) if getattr(processor, "do_rescale", True) else 1.0
    if getattr(processor, "do_normalize", True):
        mean = torch.tensor(processor.image_mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(processor.image_std, dtype=torch.float32).view(-1, 1, 1)
    else:
        mean, std = torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
    return scale, mean, std
