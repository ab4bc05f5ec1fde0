"""Tiny Hugging Face checkpoints built from config for the tests (no download).

Shared by the core, reliability, distributed and GUI tests: every test that
needs a model builds it here and loads it back through the real loader.
:class:`RedChannelModel` is a segmenter without weights whose class maps are
known pixel for pixel.
"""

from __future__ import annotations

import numpy as np

from napari_axons.core.common import ClassTable


class RedChannelModel:
    """Class maps from the red channel: > 170 axon (1), > 85 myelin (2), else background."""

    batch_size, streams, name = 2, 1, "red-channel"
    classes = ClassTable.from_names(["axon", "myelin"])

    def prepare(self, overview):
        pass

    def predict(self, tiles):
        r = tiles[..., 0]
        return np.where(r > 170, 1, np.where(r > 85, 2, 0)).astype(np.uint8)

    def info(self):
        return {"kind": "test", "name": self.name}


def tiny_segformer(num_labels: int = 2):
    """A ~94k-parameter SegFormer (logits at 1/4 of the input), seeded."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    torch.manual_seed(0)
    cfg = SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64],
                          num_attention_heads=[1, 1, 2, 4], decoder_hidden_size=32,
                          num_labels=num_labels)
    return SegformerForSemanticSegmentation(cfg).eval()


def tiny_upernet(num_labels: int = 2):
    """A tiny UperNet with a ConvNeXt backbone (logits at the input size), seeded."""
    import torch
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

    torch.manual_seed(0)
    backbone = ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                              out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = UperNetConfig(backbone_config=backbone, hidden_size=16, use_auxiliary_head=False,
                        num_labels=num_labels)
    return UperNetForSemanticSegmentation(cfg).eval()


FAMILIES = {"segformer": tiny_segformer, "upernet": tiny_upernet}


def push_bias(model, towards: int):
    """Make the model say ``towards`` everywhere (classifier weight 0, bias +-10)."""
    import torch

    clf = classifier(model)
    with torch.no_grad():
        clf.weight.zero_()
        clf.bias.fill_(-10.0)
        clf.bias[towards] = 10.0
    return model


def save_checkpoint(model, folder, *, processor_size: int | None = None, **save_kw):
    """``save_pretrained`` the model (safetensors) and a SegFormer image processor."""
    from transformers import SegformerImageProcessor

    model.save_pretrained(folder, **save_kw)
    kw = {"size": {"height": processor_size, "width": processor_size}} if processor_size else {}
    SegformerImageProcessor(**kw).save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- every family

_VIT = {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
        "intermediate_size": 64, "patch_size": 16}


def tiny_family(family: str, num_labels: int = 2):
    """A tiny, seeded model of any ``AutoModelForSemanticSegmentation`` family that
    runs without torchvision: segformer, upernet, mobilevit, mobilevitv2, mobilenet_v2,
    beit, data2vec-vision, dpt (no auxiliary heads)."""
    import torch
    import transformers as tf

    if family in FAMILIES:
        return FAMILIES[family](num_labels)
    torch.manual_seed(0)
    if family == "mobilevit":
        cfg = tf.MobileViTConfig(hidden_sizes=[24, 32, 48],
                                 neck_hidden_sizes=[8, 16, 16, 24, 32, 48, 64],
                                 num_attention_heads=2, aspp_out_channels=32, output_stride=8,
                                 num_labels=num_labels)
        return tf.MobileViTForSemanticSegmentation(cfg).eval()
    if family == "mobilevitv2":
        cfg = tf.MobileViTV2Config(width_multiplier=0.25, aspp_out_channels=32,
                                   num_labels=num_labels)
        return tf.MobileViTV2ForSemanticSegmentation(cfg).eval()
    if family == "mobilenet_v2":
        cfg = tf.MobileNetV2Config(depth_multiplier=0.25, num_labels=num_labels)
        return tf.MobileNetV2ForSemanticSegmentation(cfg).eval()
    if family in ("beit", "data2vec-vision"):
        cls = (tf.BeitConfig, tf.BeitForSemanticSegmentation) if family == "beit" else \
            (tf.Data2VecVisionConfig, tf.Data2VecVisionForSemanticSegmentation)
        cfg = cls[0](**_VIT, image_size=64, out_indices=[1, 2, 3, 4], use_auxiliary_head=False,
                     pool_scales=[1, 2], auxiliary_channels=16, num_labels=num_labels)
        return cls[1](cfg).eval()
    if family == "dpt":
        cfg = tf.DPTConfig(**_VIT, image_size=64, neck_hidden_sizes=[16, 16, 32, 32],
                           fusion_hidden_size=32, backbone_out_indices=[0, 1, 2, 3],
                           use_auxiliary_head=False, num_labels=num_labels)
        return tf.DPTForSemanticSegmentation(cfg).eval()
    raise ValueError(family)


def classifier(model):
    """The last 1x1 convolution that gives the class logits, in any family."""
    import torch

    n = model.config.num_labels
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == n]
    return convs[-1]


def set_classes(model, names):
    """Name the model's classes (``id2label``/``label2id``), index 0 first."""
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {n: k for k, n in enumerate(names)}
    return model


def save_with_processor(model, folder, processor):
    """``save_pretrained`` the model and the given image processor into ``folder``."""
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def make_decisive(model, pixel_values, gain: float = 20.0):
    """Make a random model answer like a trained one, in place: PyTorch's default
    initialisation for convolutions and linear layers (transformers' std 0.02 lets
    activations vanish in deep tiny models), then the classifier shifted so each class's
    mean logit is 0 and scaled so the logits on ``pixel_values`` have a spread of
    ``gain`` (classes far apart)."""
    import torch

    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.ConvTranspose2d)):
            m.reset_parameters()
    clf = classifier(model)

    def logits():
        with torch.inference_mode():
            return model(pixel_values=pixel_values).logits.double()

    def centre():  # the bias shifts each class's logits by a per-class factor (BN may follow)
        with torch.no_grad():
            m0 = logits().mean((0, 2, 3))
            clf.bias.add_(1.0)
            slope = logits().mean((0, 2, 3)) - m0
            clf.bias.sub_((1.0 + m0 / slope).float())

    centre()
    lg = logits()
    spread = float((lg - lg.mean(1, keepdim=True)).std())
    with torch.no_grad():
        clf.weight.mul_(gain / spread)
    centre()
    return model
