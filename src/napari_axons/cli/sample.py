"""``napari-axons sample``: a synthetic slide (axons or myelinated fibres) and its ground truth."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from ..core.common import atomic_write_bytes, encode_png
from ..core.image import MYELINATED_CLASSES, make_axon_sample, make_myelinated_sample
from .parser import CliError, add_command, whole_number

__all__ = ["add_parser", "run"]

#: The formats ``napari-axons sample`` writes, by suffix.
_SAMPLE_FORMATS = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG", ".jpg": "JPEG",
                   ".jpeg": "JPEG"}


def add_parser(sub) -> None:
    sample = add_command(
        sub, "sample", run, help="write a synthetic sample image and its truth",
        description="Write a synthetic image, and its ground truth beside it "
                    "(NAME_truth.png): 'axons' is fluorescence-like (truth 0/255), "
                    "'myelinated' an SEM-like cross-section of myelinated axons (truth a "
                    "palette PNG of class indices: 0 background, 1 myelin, 2 axon). The "
                    "suffix of OUT chooses the format: .tif/.tiff (a tiled, zlib-compressed "
                    "TIFF), .png or .jpg/.jpeg.")
    sample.add_argument("output", metavar="OUT", help="where to write the image "
                                                      "(.tif, .tiff, .png, .jpg or .jpeg)")
    sample.add_argument("--kind", choices=["axons", "myelinated"], default="axons",
                        help="which sample (default: axons)")
    sample.add_argument("--size", type=whole_number(1), nargs=2, default=(2048, 3072),
                        metavar=("H", "W"), help="height and width in pixels (default: 2048 3072)")
    sample.add_argument("--seed", type=whole_number(0), default=0,
                        help="random seed (default: 0)")
    sample.add_argument("--overwrite", action="store_true",
                        help="replace OUT and its truth file when they exist")


def run(args) -> int:
    out = Path(args.output)
    kind = _SAMPLE_FORMATS.get(out.suffix.lower())
    if kind is None:
        raise CliError(f"{out}: unknown image suffix {out.suffix or '(none)'!r}; use .tif, "
                        ".tiff, .png, .jpg or .jpeg", 2)
    truth_path = out.with_name(out.stem + "_truth.png")
    if not args.overwrite:
        for path in (out, truth_path):
            if path.exists():
                raise CliError(f"{path}: already exists; use --overwrite to replace it")
    height, width = args.size
    if args.kind == "myelinated":
        image, truth = make_myelinated_sample((height, width), seed=args.seed)
        truth_bytes = _palette_png(truth, MYELINATED_CLASSES.palette())
    else:
        image, truth = make_axon_sample((height, width), seed=args.seed)
        truth_bytes = encode_png(np.asarray(truth, np.uint8))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{out.parent}: cannot create folder ({exc.strerror})") from exc
    atomic_write_bytes(out, _encode_sample(image, kind))
    atomic_write_bytes(truth_path, truth_bytes)
    print(f"wrote {out} ({kind}, {height} x {width} pixels, height x width) and {truth_path}")
    return 0


def _palette_png(class_map, palette: list[int]) -> bytes:
    """A palette PNG whose pixel values are the class indices of ``class_map``."""
    class_map = np.ascontiguousarray(class_map, np.uint8)
    im = Image.frombytes("P", (class_map.shape[1], class_map.shape[0]), class_map.tobytes())
    im.putpalette(palette)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _encode_sample(image, kind: str) -> bytes:
    """``image`` (H, W, 3) uint8 as the bytes of a ``kind`` file (TIFF, PNG or JPEG)."""
    if kind == "TIFF":
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, image, tile=(256, 256), compression="zlib", photometric="rgb")
        return buffer.getvalue()
    buffer = io.BytesIO()
    if kind == "PNG":
        Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    else:
        Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()
