"""The class table: label value -> class name -> colour, shared by every part of the product.

A *class map* is a ``(H, W)`` uint8 array whose value at a pixel is a class
index: 0 is background, ``k`` (1..255) is ``table.names[k]``. Segmenters
return class maps, the mask store holds them, the napari Labels layers show
them, and the export writes them:

* one foreground class (the seed's case): ``masks/*_mask.png`` is 0/255 as the
  seed writes it, polygons carry that class's name in ``label_class``;
* several: the mask PNG is a palette PNG whose pixel values are the class
  indices (the PASCAL VOC convention) and each polygon carries its class name.

Where a table comes from
------------------------
* a Hugging Face checkpoint: :meth:`ClassTable.from_id2label` (its
  ``config.id2label``, index 0 being the background class);
* label files: :meth:`ClassTable.from_names` over the ``label_class`` values in
  order of first appearance (:meth:`ClassTable.with_names` adds unknown ones at
  the end, never merging two names);
* the user (``--classes axon,myelin``): :meth:`ClassTable.from_names`;
* an export: the manifest's ``"classes"`` list (:meth:`ClassTable.from_json`).

The seed's default is :data:`DEFAULT_TABLE`: background + ``"axon"``.

A class value a table does not know (the one rule)
--------------------------------------------------
* **Reading** (an export's label files or mask PNGs, for napari, the session,
  the format bridges): the class is *added* to the table (a label class by its
  name, a mask value ``k`` as ``class_k``) with one warning naming the file and
  the class, never merged into another class and never dropped
  (:class:`~napari_axons.core.export.TileClasses`).
* **Writing** (a class map into an export's files, the mask store, a label
  file): refused with one line naming the tile (or layer) and the values
  (:func:`~napari_axons.core.labels.check_class_map`); nothing is written, and a
  value is never folded into another class.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["ClassTable", "ClassTableError", "DEFAULT_TABLE", "MAX_CLASSES", "NAMED_COLOURS",
           "colour_for", "default_colour", "default_colours",
           "parse_colour"]

#: Class indices are uint8; 0 is background, so at most 255 foreground classes.
MAX_CLASSES = 255

BACKGROUND = "background"

# Well-separated colours for the first classes (axon first: the product's default class);
# more are spread over the hue circle.
_PALETTE = [
    (0, 0, 0),        # 0 background
    (255, 64, 64),    # 1 red
    (64, 160, 255),   # 2 blue
    (255, 208, 0),    # 3 yellow
    (64, 224, 96),    # 4 green
    (224, 96, 255),   # 5 violet
    (255, 144, 32),   # 6 orange
    (0, 224, 224),    # 7 cyan
    (255, 128, 192),  # 8 pink
]


class ClassTableError(ValueError):
    """A class table is invalid (one line for the user)."""


def default_colour(index: int) -> tuple[int, int, int]:
    """The colour of class ``index`` when none is given: RGB uint8 triple.

    Index 0 (background) is black. The first eight classes have fixed,
    well-separated colours; later ones are spread over the hue circle by the
    golden ratio, so neighbours never share a colour.
    """
    if index < len(_PALETTE):
        return _PALETTE[index]
    h = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


#: The field's own classes keep one colour in every table, whatever their index: an axon is
#: red and a myelin sheath blue after the built-in model (myelin, axon), an AxonDeepSeg mask or
#: a session that started with axon alike.
NAMED_COLOURS = {"axon": _PALETTE[1], "myelin": _PALETTE[2]}


def default_colours(names: Iterable[str]) -> tuple[tuple[int, int, int], ...]:
    """Colours for classes ``names`` (index 0 first) when none are given.

    Index 0 (background) is black; ``axon`` and ``myelin`` take their
    :data:`NAMED_COLOURS`; every other class takes :func:`default_colour` of
    its index unless a class before it or a named class has that colour, and
    then the first palette colour nobody has. A table without the named classes
    gets exactly :func:`default_colour` of each index.
    """
    names = list(names)
    reserved = {NAMED_COLOURS[n] for n in names[1:] if n in NAMED_COLOURS}
    out = [_PALETTE[0]]
    for k, n in enumerate(names[1:], start=1):
        out.append(colour_for(n, k, set(out[1:]) | (set() if n in NAMED_COLOURS else reserved)))
    return tuple(out)


def colour_for(name: str, index: int, used) -> tuple[int, int, int]:
    """The default colour of class ``name`` at ``index``, none of the colours in ``used``
    (the other classes'): its :data:`NAMED_COLOURS` entry when free, else
    :func:`default_colour` of ``index`` when free, else the first free palette colour."""
    if NAMED_COLOURS.get(name) is not None and NAMED_COLOURS[name] not in used:
        return NAMED_COLOURS[name]
    colour, spare = default_colour(index), 1
    while colour in used:
        colour, spare = default_colour(spare), spare + 1
    return colour


@dataclass(frozen=True)
class ClassTable:
    """Class index -> name -> colour. Index 0 is the background.

    Attributes
    ----------
    names : tuple of str
        ``names[k]`` is the name of class ``k``; ``names[0]`` the background's.
        Names are unique, non-empty strings.
    colours : tuple of (int, int, int)
        RGB uint8 colour per class, same length as ``names``.

    Raises
    ------
    ClassTableError
        On construction: fewer than 2 or more than 256 entries (255 foreground
        classes: class maps are uint8), duplicate or empty names, or colours
        that are not RGB triples in 0-255.
    """

    names: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self):
        names = tuple(str(n) for n in self.names)
        if len(names) < 2:
            raise ClassTableError("a class table needs the background and at least one class")
        if len(names) > MAX_CLASSES + 1:
            raise ClassTableError(
                f"a class table holds at most {MAX_CLASSES} classes besides the background "
                f"(class maps are uint8), got {len(names) - 1}"
            )
        seen = set()
        for n in names:
            if not n.strip():
                raise ClassTableError("class names must not be empty")
            if n in seen:
                raise ClassTableError(f"class name {n!r} appears twice in the class table")
            seen.add(n)
        colours = tuple(self.colours) or default_colours(names)
        if len(colours) != len(names):
            raise ClassTableError(
                f"class table: {len(colours)} colours for {len(names)} classes"
            )
        checked = []
        for c in colours:
            try:
                rgb = tuple(int(v) for v in c)
            except (TypeError, ValueError):
                raise ClassTableError(f"class colour {c!r} is not an RGB triple") from None
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ClassTableError(f"class colour {c!r} is not an RGB triple in 0-255")
            checked.append(rgb)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "colours", tuple(checked))

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_names(cls, names: Iterable[str], *, background: str = BACKGROUND) -> ClassTable:
        """A table of the foreground classes ``names`` (indices 1, 2, ... in that order).

        Parameters
        ----------
        names : iterable of str
            Foreground class names; ``None`` entries (``label_class: null`` in a
            label file) are named ``"object"``.
        background : str
            Name of class 0.
        """
        fg = ["object" if n is None else str(n) for n in names]
        return cls((background, *fg))

    @classmethod
    def from_spec(cls, text: str) -> ClassTable:
        """Parse ``"axon,myelin"`` (the ``--classes`` option) into a table.

        Raises
        ------
        ClassTableError
            If the list is empty or a name repeats.
        """
        parts = [p.strip() for p in str(text).split(",")]
        if not any(parts):
            raise ClassTableError("--classes: give class names separated by commas, e.g. axon,myelin")
        if any(not p for p in parts):
            raise ClassTableError(f"--classes {text!r}: empty class name")
        return cls.from_names(parts)

    @classmethod
    def from_id2label(cls, id2label: Mapping) -> ClassTable:
        """The table of a Hugging Face checkpoint's ``config.id2label``.

        Keys are class indices (int or str), values names; index 0 is taken as
        the background whatever its name. Missing indices are named ``class_K``;
        duplicate names get ``_K`` appended (``"axon"``, ``"axon_3"``) so that
        every index keeps its own name.
        """
        items = {int(k): str(v) for k, v in dict(id2label).items()}
        if not items:
            raise ClassTableError("the model's id2label is empty")
        n = max(items) + 1
        names: list[str] = []
        for k in range(n):
            name = items.get(k, f"class_{k}")
            if name in names:
                name = f"{name}_{k}"
            names.append(name)
        if len(names) < 2:
            names.append("class_1")
        return cls(tuple(names))

    @classmethod
    def from_json(cls, entries: Sequence[Mapping], *, where: str = "class table") -> ClassTable:
        """Read the manifest's ``"classes"`` list (:meth:`to_json`).

        Raises
        ------
        ClassTableError
            Naming ``where`` and the entry, when an entry is malformed or the
            indices are not 0, 1, 2, ... in order.
        """
        if not isinstance(entries, (list, tuple)):
            raise ClassTableError(f"{where}: 'classes' is not a list")
        names, colours = [], []
        for k, e in enumerate(entries):
            if not isinstance(e, Mapping) or "name" not in e:
                raise ClassTableError(f"{where}: classes[{k}] is not an object with a 'name'")
            if e.get("index", k) != k:
                raise ClassTableError(f"{where}: classes[{k}] has index {e.get('index')!r}, expected {k}")
            names.append(e["name"])
            colour = e.get("color", e.get("colour"))
            colours.append(parse_colour(colour, where=f"{where}: classes[{k}]")
                           if colour is not None else None)
        if None in colours:  # the defaults for the classes that give none
            defaults = default_colours(str(n) for n in names)
            colours = [d if c is None else c for c, d in zip(colours, defaults, strict=True)]
        try:
            return cls(tuple(names), tuple(colours))
        except ClassTableError as exc:
            raise ClassTableError(f"{where}: {exc}") from None

    def to_json(self) -> list[dict]:
        """``[{"index": 0, "name": "background", "color": "#000000"}, ...]`` for the manifest."""
        return [
            {"index": k, "name": n, "color": "#{:02x}{:02x}{:02x}".format(*c)}
            for k, (n, c) in enumerate(zip(self.names, self.colours, strict=True))
        ]

    # -- queries ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_foreground(self) -> int:
        """Number of classes besides the background."""
        return len(self.names) - 1

    @property
    def foreground(self) -> tuple[str, ...]:
        """The foreground class names, index 1 first."""
        return self.names[1:]

    @property
    def is_binary(self) -> bool:
        """True with one foreground class: masks are written 0/255, as the seed's."""
        return self.n_foreground == 1

    def index_of(self, name: str) -> int:
        """The index of class ``name``.

        Raises
        ------
        ClassTableError
            If the table has no such class (the message lists the known ones).
        """
        try:
            return self.names.index(str(name))
        except ValueError:
            raise ClassTableError(
                f"unknown class {name!r}; known classes: {', '.join(self.foreground)}"
            ) from None

    def name_of(self, index: int) -> str:
        """The name of class ``index`` (``IndexError`` outside the table)."""
        return self.names[int(index)]

    def with_names(self, names: Iterable[str | None]) -> ClassTable:
        """This table plus the names it lacks, appended in order (never merged).

        ``None`` (``label_class: null``) stands for ``"object"``.
        """
        new = list(self.names)
        cols = list(self.colours)
        for n in names:
            n = "object" if n is None else str(n)
            if n not in new:
                new.append(n)
                cols.append(colour_for(n, len(new) - 1, set(cols)))
        if len(new) == len(self.names):
            return self
        return ClassTable(tuple(new), tuple(cols))

    def napari_colormap(self) -> dict:
        """``{index: (r, g, b, a)}`` floats for a napari Labels layer (background transparent)."""
        cmap: dict = {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0)}
        for k, c in enumerate(self.colours):
            if k:
                cmap[k] = (c[0] / 255, c[1] / 255, c[2] / 255, 1.0)
        return cmap

    def palette(self) -> list[int]:
        """A 768-entry flat RGB palette (PNG ``PLTE``) for palette mask PNGs."""
        flat = [v for c in self.colours for v in c]
        return flat + [0] * (768 - len(flat))


def parse_colour(value, *, where: str = "colour") -> tuple[int, int, int]:
    """``"#rrggbb"``, ``[r, g, b]`` or a QuPath packed int -> RGB uint8 triple.

    Raises
    ------
    ClassTableError
        Naming ``where`` when the value is none of these.
    """
    if isinstance(value, str):
        s = value.strip().lstrip("#")
        if len(s) == 6:
            try:
                return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)
            except ValueError:
                pass
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        v = value & 0xFFFFFF
        return (v >> 16) & 255, (v >> 8) & 255, v & 255
    elif isinstance(value, (list, tuple)) and len(value) in (3, 4):
        try:
            rgb = tuple(int(v) for v in value[:3])
        except (TypeError, ValueError):
            rgb = ()
        if len(rgb) == 3 and all(0 <= v <= 255 for v in rgb):
            return rgb  # type: ignore[return-value]
    raise ClassTableError(f"{where}: {value!r} is not a colour ('#rrggbb' or [r, g, b])")


#: The seed's classes: background and one foreground class, "axon".
DEFAULT_TABLE = ClassTable(("background", "axon"))
