"""The seed's pipeline, rebuilt faithfully (seeds/000_1f0088b2fc233ac0.txt).

Used by the tests (grid and pixels must match) and by the benchmarks (the
per-tile reference loop). Kept as close to the seed's text as possible.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None  # as the seed does


def tile_image(image_path, tile_size=(500, 500), downsample=False, boxes=None):
    """The seed's ``tile_image``; when ``boxes`` is a list, the crop boxes are appended to it."""
    image = Image.open(image_path)
    if downsample:
        image = image.resize((image.width // 3, image.height // 3), Image.LANCZOS)
    img_width, img_height = image.size
    x_tiles = img_width // tile_size[0]
    y_tiles = img_height // tile_size[1]

    def crop(box):
        if boxes is not None:
            boxes.append(box)
        return image.crop(box)

    for y in range(0, y_tiles * tile_size[1], tile_size[1]):
        for x in range(0, x_tiles * tile_size[0], tile_size[0]):
            yield crop((x, y, x + tile_size[0], y + tile_size[1]))
    if img_width % tile_size[0] != 0:
        for y in range(0, y_tiles * tile_size[1], tile_size[1]):
            yield crop((img_width - tile_size[0], y, img_width, y + tile_size[1]))
    if img_height % tile_size[1] != 0:
        for x in range(0, x_tiles * tile_size[0], tile_size[0]):
            yield crop((x, img_height - tile_size[1], x + tile_size[0], img_height))
    if img_width % tile_size[0] != 0 and img_height % tile_size[1] != 0:
        yield crop((img_width - tile_size[0], img_height - tile_size[1], img_width, img_height))


def seed_boxes(width, height, tile=512):
    """The seed's crop boxes ``(left, upper, right, lower)`` for an image size, in order."""
    boxes = []
    x_tiles, y_tiles = width // tile, height // tile
    for y in range(0, y_tiles * tile, tile):
        for x in range(0, x_tiles * tile, tile):
            boxes.append((x, y, x + tile, y + tile))
    if width % tile != 0:
        for y in range(0, y_tiles * tile, tile):
            boxes.append((width - tile, y, width, y + tile))
    if height % tile != 0:
        for x in range(0, x_tiles * tile, tile):
            boxes.append((x, height - tile, x + tile, height))
    if width % tile != 0 and height % tile != 0:
        boxes.append((width - tile, height - tile, width, height))
    return boxes


def process_images(image_paths, output_folder, downsample=False, segment=None):
    """The seed's ``process_images`` loop (tiles; masks when ``segment`` is given).

    ``segment(tile_rgb) -> uint8 mask`` stands for the seed's model block, so the
    benchmark can plug the seed's exact per-tile model code in.
    """
    if not os.path.exists(output_folder):
        os.makedirs(output_folder)
    mask_folder = os.path.join(output_folder, "masks")
    if not os.path.exists(mask_folder):
        os.makedirs(mask_folder)
    count = 0
    for image_path in image_paths:
        base_name = os.path.splitext(os.path.basename(image_path))[0]
        tile_count = 0
        for tile in tile_image(image_path, tile_size=(512, 512), downsample=downsample):
            tile_rgb = tile.convert("RGB")
            tile_name = f"{base_name}_tile_{tile_count:04d}.png"
            tile_rgb.save(os.path.join(output_folder, tile_name))
            if segment is not None:
                tile_mask = segment(tile_rgb)
                mask_name = f"{base_name}_tile_{tile_count:04d}_mask.png"
                Image.fromarray(np.asarray(tile_mask, np.uint8)).save(
                    os.path.join(mask_folder, mask_name))
            tile_count += 1  # noqa: SIM113 (the seed's own loop, kept verbatim)
            count += 1
    return count


def load_segmentation_model(model_path):
    """The seed's ``load_segmentation_model`` (axons/utils/model_loader.py)."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    model = AutoModelForSemanticSegmentation.from_pretrained(model_path)
    image_processor = AutoImageProcessor.from_pretrained(model_path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    return model, image_processor, device


def binary_mask_to_json(tile_mask, json_path, tile_name):
    """The seed's mask -> JSON step: one label per component, ``find_contours`` regions.

    The seed document names this function without its body; this is the usual
    implementation it describes (connected components, contours as polygons).
    """
    import json

    from skimage import measure

    labelled = measure.label(tile_mask > 0, connectivity=2)
    labels = []
    for k in range(1, labelled.max() + 1):
        component = np.pad(labelled == k, 1)
        regions = [
            [{"x": float(c - 1), "y": float(r - 1)} for r, c in contour]
            for contour in measure.find_contours(component.astype(np.uint8), 0.5)
        ]
        labels.append({"label_type": "polygon", "label_class": None, "source": "auto",
                       "anno_data": {}, "object_id": f"{tile_name}_{k}", "regions": regions})
    with open(json_path, "w") as f:
        json.dump({"image_filename": tile_name, "completed_tasks": [], "labels": labels}, f)


def seed_segmenter(model_path, output_folder):
    """The seed's per-tile model block as a callable for :func:`process_images`."""
    import torch

    model, image_processor, device = load_segmentation_model(model_path)
    model.eval()
    counter = {"n": 0}

    def segment(tile_rgb):
        inputs = image_processor(images=tile_rgb, return_tensors="pt")
        inputs = {k: v.to(device) for k, v in inputs.items()}
        with torch.no_grad():
            outputs = model(**inputs)
            logits = outputs.logits
            probs = torch.softmax(logits, dim=1)
            tile_mask = (probs[0, 1].cpu().numpy() > 0.5).astype(np.uint8) * 255
        name = f"tile_{counter['n']:04d}"
        counter["n"] += 1
        binary_mask_to_json(tile_mask, os.path.join(output_folder, f"{name}__labels.json"),
                            f"{name}.png")
        return tile_mask

    return segment
