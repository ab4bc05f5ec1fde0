"""Tiny Hugging Face checkpoints built from config for the tests (no download).

Shared by the core, reliability, distributed and GUI tests: every test that
needs a model builds it here and loads it back through the real loader.
"""

from __future__ import annotations


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

    clf = model.decode_head.classifier
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
