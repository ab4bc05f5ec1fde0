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

from ..segment import ModelError
from ..segment.builtin_models import builtin_model_path

__all__ = ["ARCHITECTURES", "AUTO_BASES", "BaseModelError", "auto_base", "build_model",
           "freeze_batchnorm", "load_base", "new_processor", "normalisation", "resolve_base",
           "stated_pixel_size"]

ARCHITECTURES = ("upernet-convnext", "segformer")

#: Built-in models that ``--base auto`` starts from, with the foreground classes they know.
AUTO_BASES = {"axon-myelin-sem": frozenset({"axon", "myelin"})}


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


def auto_base(names) -> str | None:
    """The built-in model ``--base auto`` starts from for the classes ``names`` (or None)."""
    fg = frozenset(n for n in names[1:])
    for name, classes in AUTO_BASES.items():
        if fg == classes:
            return name
    return None


def resolve_base(spec, names) -> tuple[str | None, Path | None]:
    """``(what, folder)`` of a ``--base`` value for the classes ``names``.

    ``"auto"``: the matching built-in model (:func:`auto_base`) or a new
    model; ``None``/``"none"``: a new model (``(None, None)``); a built-in
    model's name: its folder; anything else: a local folder.

    Raises
    ------
    BaseModelError
        A built-in model whose files are missing.
    """
    if spec is None or str(spec).strip().lower() == "none":
        return None, None
    if str(spec).strip().lower() == "auto":
        spec = auto_base(names)
        if spec is None:
            return None, None
    try:
        folder = builtin_model_path(spec)
    except ModelError as exc:
        raise BaseModelError(str(exc)) from None
    if folder is not None:
        return str(spec).strip().lower(), folder
    return str(spec), Path(spec).expanduser()


def freeze_batchnorm(model) -> int:
    """Keep every BatchNorm layer of ``model`` in evaluation mode; returns how many.

    Fine-tuning on a few tiles in batches of 4 crops would otherwise replace a
    base model's running statistics (learnt over its whole training set) with
    those of a handful of crops: a new user found a fine-tune at a learning
    rate of 1e-9 (weights unchanged) move the running variance of the UperNet
    head by up to 4.7 and its held-out IoU from 1.000 to 0.994. The layers'
    scale and shift still train; only the statistics stay the base's. The
    Trainer calls ``model.train()`` at every step, so each layer's own
    ``train`` is replaced by one that keeps it in evaluation mode.
    """
    import types

    import torch

    def stay_eval(self, mode: bool = True):
        return torch.nn.Module.train(self, False)

    n = 0
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.train = types.MethodType(stay_eval, m)
            m.eval()
            n += 1
    return n


def stated_pixel_size(path) -> float | None:
    """The training pixel size (um) a checkpoint folder states in ``napari_axons.json``."""
    import json

    p = Path(path) / "napari_axons.json"
    try:
        v = json.loads(p.read_text(encoding="utf-8")).get("pixel_size_um")
    except (OSError, ValueError, AttributeError):
        return None
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
    return float(v) if ok else None


def _remap_classifier(model, old_names: list[str], names) -> bool:
    """Give the model's classifier one output per name of ``names``, keeping known classes.

    Rows of classes the base knows (by name) are copied, new classes get a
    fresh classifier row. Returns False when no classifier layer is found.
    """
    import torch

    n_old = len(old_names)
    convs = [(name, m) for name, m in model.named_modules()
             if isinstance(m, torch.nn.Conv2d) and m.out_channels == n_old
             and "classifier" in name]
    if not convs:
        return False
    for name, old in convs:
        new = torch.nn.Conv2d(old.in_channels, len(names), old.kernel_size, old.stride,
                              old.padding, old.dilation, old.groups, old.bias is not None)
        with torch.no_grad():
            for k, n in enumerate(names):
                if n in old_names:
                    j = old_names.index(n)
                    new.weight[k] = old.weight[j]
                    if old.bias is not None:
                        new.bias[k] = old.bias[j]
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, name.rsplit(".", 1)[-1], new)
    id2label, label2id = _labels(names)
    model.config.num_labels = len(names)
    model.config.id2label, model.config.label2id = id2label, label2id
    return True


def load_base(path, names):
    """``(model, processor)`` from a local checkpoint, set up for the classes ``names``.

    Classes the base knows by name keep their classifier weights, in the order
    of ``names`` (a base trained on background, myelin, axon fine-tunes on
    background, axon, myelin without learning its classes anew); classes it
    does not know get new weights. ``id2label`` becomes ``names``.
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
    old_names = [str((cfg.id2label or {}).get(k, f"class_{k}")) for k in range(cfg.num_labels)]
    try:
        model = AutoModelForSemanticSegmentation.from_pretrained(
            p, use_safetensors=True, local_files_only=True, trust_remote_code=False)
        if old_names != list(names) and not _remap_classifier(model, old_names, list(names)):
            # no classifier layer found by name: the class count decides, as transformers does
            model = AutoModelForSemanticSegmentation.from_pretrained(
                p, num_labels=len(names), id2label=id2label, label2id=label2id,
                ignore_mismatched_sizes=True, use_safetensors=True, local_files_only=True,
                trust_remote_code=False)
    except Exception as exc:
        raise BaseModelError(f"{p}: --base cannot be loaded "
                             f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    model = model.float()  # weights stored in float16 train in float32
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
