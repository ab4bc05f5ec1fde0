"""npe2 writers: a Labels layer as a Django-Labeller file; image + labels as an export.

Classes: a Labels layer that carries a class table in
``metadata["napari_axons"]["classes"]`` (as the plugin's reader and widget
give it: :meth:`~napari_axons.core.common.ClassTable.to_json`) holds class
indices: value ``k`` is class ``k`` of that table, and every polygon written
carries its class's name in ``label_class``. A value the table does not name
is refused (one line; nothing is written). A layer without a table is one
class: every nonzero pixel is foreground, ``label_class`` from
``metadata["napari_axons"]["label_class"]`` (default ``"axon"``), as before
classes existed.

``write_labels_json``
    One tile-sized Labels layer -> one ``__labels.json``: one polygon label per
    8-connected component per class, pixel exact
    (:func:`napari_axons.core.labels.class_masks.class_map_to_labels`). Coordinates
    are the layer's data pixels; a layer placed with ``translate`` records its
    origin in the document's ``tile`` block.

``write_export``
    An image layer and (optionally) a Labels layer -> an export folder in the
    seed's layout with its manifest, through
    :class:`napari_axons.core.export.ExportJob`, whose ``mask_reader`` reads
    the labels array. The image comes from its file when the layer was opened
    by this plugin (``metadata["napari_axons"]["path"]``, the honest source:
    the manifest then points at it and records its fingerprint). An image that
    lives only in memory is exported from its array directly (no temporary
    file; :func:`napari_axons.core.export.plan_array`); the manifest then says
    ``"path": null`` and notes that the image came from a napari layer.
    The labels layer is mapped onto the image by its ``scale``/``translate``
    (a labels layer ``f`` times coarser than the image means an export
    downsampled by ``f``); only the tiles that the labels layer covers whole
    are exported (a tile half outside it would claim "no axons" where nothing
    is known).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .core.common import ClassTable, ClassTableError, atomic_write_bytes
from .core.export import ExportJob, ExportOptions, plan_array, plan_image
from .core.labels import class_map_to_labels, dumps_labels, labels_document

__all__ = ["write_labels_json", "write_export"]

LABELS_SUFFIX = "__labels.json"


def _plain_array(data) -> np.ndarray:
    if isinstance(data, (list, tuple)):  # a multiscale layer: full resolution
        data = data[0]
    return np.asarray(data)


def _axons_meta(meta: dict) -> dict:
    md = (meta or {}).get("metadata") or {}
    info = md.get("napari_axons") if isinstance(md, dict) else None
    return info if isinstance(info, dict) else {}


def _layer_classes(arr: np.ndarray, meta: dict, where: str):
    """``(class table, class map)`` of a Labels layer's data; see the module docstring.

    Raises
    ------
    ValueError
        A malformed table, or a value the table does not name (one line naming
        ``where`` and the value).
    """
    info = _axons_meta(meta)
    entries = info.get("classes")
    if entries is None:  # one class, as before classes existed
        table = ClassTable.from_names([info.get("label_class", "axon")])
        return table, np.asarray(arr != 0, dtype=np.uint8)
    try:
        table = ClassTable.from_json(entries, where=f"{where}: the layer's class table")
    except ClassTableError as exc:
        raise ValueError(str(exc)) from None
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > table.n_foreground:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{where}: the labels layer holds value {bad}, which its class table does not "
                f"name (classes 1-{table.n_foreground}: {', '.join(table.foreground)}); "
                "nothing written")
    return table, arr.astype(np.uint8, copy=False)


def write_labels_json(path: str, data, meta: dict) -> list[str]:
    """Write a 2D Labels layer as a Django-Labeller ``__labels.json``.

    Parameters
    ----------
    path : str
        Target file. ``image_filename`` is derived from it:
        ``<stem>__labels.json`` annotates ``<stem>.png``; any other
        ``<name>.json`` annotates ``<name>.png``.
    data : array_like
        ``(rows, columns)`` integer labels: class indices when the layer has a
        class table, else nonzero is foreground.
    meta : dict
        The layer's attributes (``name``, ``translate``, ``metadata``, ...).

    Returns
    -------
    list of str
        ``[path]``.

    Raises
    ------
    ValueError
        When the layer is not 2D, or holds a value its class table does not
        name (nothing is written).
    """
    arr = _plain_array(data)
    if arr.ndim != 2:
        raise ValueError(f"{path}: only 2D Labels layers can be saved as a label file "
                         f"(this one has shape {arr.shape})")
    target = Path(path)
    name = target.name
    if name.endswith(LABELS_SUFFIX):
        image_filename = name[: -len(LABELS_SUFFIX)] + ".png"
    else:
        image_filename = (name[: -len(".json")] if name.endswith(".json") else name) + ".png"
    table, class_map = _layer_classes(arr, meta, str(target))
    stem = image_filename[: -len(".png")]
    labels = class_map_to_labels(class_map, table, source="manual", id_prefix=f"{stem}-")
    tile = None
    translate = [float(v) for v in (meta or {}).get("translate", ())][-2:]
    if any(translate):
        tile = {"y": translate[0], "x": translate[1], "height": int(arr.shape[0]),
                "width": int(arr.shape[1])}
    doc = labels_document(image_filename, labels, tile=tile)
    atomic_write_bytes(target, dumps_labels(doc))
    return [str(target)]


def _split_layers(layer_data) -> tuple[tuple, tuple | None]:
    images = [ld for ld in layer_data if ld[2] == "image"]
    labels = [ld for ld in layer_data if ld[2] == "labels"]
    if len(images) != 1 or len(labels) > 1:
        raise ValueError(
            "an export needs exactly one image layer and at most one labels layer "
            f"(got {len(images)} image and {len(labels)} labels layers)"
        )
    return images[0], (labels[0] if labels else None)


def _vec(meta: dict, key: str, default: float) -> tuple[float, float]:
    v = [float(x) for x in (meta or {}).get(key, ())][-2:]
    return (v[0], v[1]) if len(v) == 2 else (default, default)


def write_export(path: str, layer_data: list[tuple]) -> list[str]:
    """Write an image layer and a Labels layer as a napari-axons export folder.

    Parameters
    ----------
    path : str
        The export folder (created; must be empty or absent).
    layer_data : list of (data, meta, layer_type)
        One ``"image"`` layer and at most one ``"labels"`` layer.

    Returns
    -------
    list of str
        Every file written, the manifest first.

    Raises
    ------
    ValueError
        Wrong layers, or labels that do not line up with the image grid.
    napari_axons.core.common.ExportError
        The folder cannot be written, or already holds files.
    """
    (img_data, img_meta, _), labels_ld = _split_layers(layer_data)
    info = _axons_meta(img_meta)
    src = info.get("path")
    in_memory = not (isinstance(src, str) and Path(src).is_file())
    options = ExportOptions()
    mask_reader = None
    offset = (0, 0)
    labels = None
    if labels_ld is not None:
        labels = _plain_array(labels_ld[0])
        if labels.ndim != 2:
            raise ValueError(f"the labels layer must be 2D (shape {labels.shape})")
        lab_meta = labels_ld[1] or {}
        table, labels = _layer_classes(labels, lab_meta, str(path))
        i_scale, i_tr = _vec(img_meta, "scale", 1.0), _vec(img_meta, "translate", 0.0)
        l_scale, l_tr = _vec(lab_meta, "scale", 1.0), _vec(lab_meta, "translate", 0.0)
        factors = [ls / s for ls, s in zip(l_scale, i_scale, strict=True)]
        f = int(round(factors[0]))
        if f < 1 or any(abs(fa - f) > 1e-6 for fa in factors):
            raise ValueError(f"the labels layer's scale {l_scale} is not a whole multiple of "
                             f"the image's {i_scale}")
        options = ExportOptions(downsample=f, classes=table if "classes" in
                                _axons_meta(lab_meta) else None)
        # working pixel i is centred on image pixel i * f + (f - 1) / 2
        off = []
        for ls, lt, s, it in zip(l_scale, l_tr, i_scale, i_tr, strict=True):
            o = (lt - it - (f - 1) / 2 * s) / ls
            if abs(o - round(o)) > 1e-3:
                raise ValueError("the labels layer is not aligned to the image's pixel grid "
                                 f"(translate {l_tr})")
            off.append(int(round(o)))
        offset = (off[0], off[1])
    if in_memory:  # exported from the array itself: no temporary file
        name = (img_meta or {}).get("name") or "image"
        plan = plan_array(_plain_array(img_data), options, name=name)
    else:
        plan = plan_image(src, options)
    try:
        tiles = None
        job_kw = {}
        if labels is not None:
            oy, ox = offset

            def mask_reader(plan, box, labels=labels, oy=oy, ox=ox):
                out = np.zeros((box.height, box.width), np.uint8)
                y0, x0 = max(box.y, oy), max(box.x, ox)
                y1 = min(box.y + box.height, oy + labels.shape[0])
                x1 = min(box.x + box.width, ox + labels.shape[1])
                if y1 > y0 and x1 > x0:
                    out[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x] = (
                        labels[y0 - oy : y1 - oy, x0 - ox : x1 - ox])
                return out

            grid = plan.grid
            # only tiles whose whole (real-image) area the labels cover: a
            # tile half outside the labels would claim "no axons" where unknown
            wanted = []
            for b in grid:
                ys, xs = b.valid_slices(grid.height, grid.width)
                if (b.y + ys.start >= oy and b.y + ys.stop <= oy + labels.shape[0]
                        and b.x + xs.start >= ox and b.x + xs.stop <= ox + labels.shape[1]):
                    wanted.append(b.index)
            if not wanted:
                raise ValueError("the labels layer covers no whole tile of the image")
            tiles = [wanted]
            job_kw = {"mask_reader": mask_reader, "label_source": "manual"}
        job = ExportJob.from_plans([plan], path, options, tiles=tiles, **job_kw)
        gen = job.run()
        written: list[str] = []
        while True:
            try:
                result = next(gen)
            except StopIteration as stop:
                manifest = stop.value
                break
            written.extend(str(Path(path) / f) for f in result.files)
        if manifest is None:
            raise ValueError("; ".join(job.errors) or "nothing was exported")
        return [str(Path(path) / "manifest.json"), *written]
    finally:
        plan.source.close()
