"""Physical pixel size in micrometres, read from an image's metadata.

Sources, in the order they are tried for a TIFF file (the first that gives a
size wins; :mod:`napari_axons.core.image.tiff` calls these):

* OME-TIFF: ``Pixels/@PhysicalSizeX``/``@PhysicalSizeY`` and their ``...Unit``
  (default micrometres) of the image series read;
* SVS (Aperio): ``MPP = ...`` in the ImageDescription (micrometres per pixel);
* ImageJ: ``XResolution``/``YResolution`` (pixels per unit) with the ``unit=``
  of the ImageJ description (``micron``, ``um``, ``nm``, ``mm``, ``cm``...);
* any TIFF (NDPI included): ``XResolution``/``YResolution`` with
  ``ResolutionUnit`` inch or centimetre. 72 and 96 dots per inch are the
  defaults of photo and screen software, not a measurement: they are ignored
  in whatever unit they are stored (28.3465 px/cm, 2835 px/m in a PNG's pHYs,
  an ImageJ ``unit=cm``), to within the rounding of those units (0.02 dpi).

OME-Zarr 0.4/0.5: the ``scale`` of level 0's ``coordinateTransformations``
(and of the multiscale's own, when present) along ``y``/``x``, in the unit of
those axes (:func:`from_ome_zarr`). OME-Zarr 0.1-0.3 state no pixel size.

A value given by the user (``--pixel-size UM``) overrides all of these.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["PixelSize", "unit_to_um", "from_resolution", "from_ome_xml", "from_svs_description",
           "from_ome_zarr", "PixelSizeError"]


class PixelSizeError(ValueError):
    """A pixel size that is not a positive finite number of micrometres."""


@dataclass(frozen=True)
class PixelSize:
    """The physical size of one pixel.

    Attributes
    ----------
    x, y : float
        Width and height of a pixel in micrometres.
    origin : str
        Where the value came from (``"OME-TIFF PhysicalSizeX/Y"``,
        ``"TIFF XResolution/YResolution (cm)"``, ``"--pixel-size"``, ...).
    """

    x: float
    y: float
    origin: str

    @classmethod
    def checked(cls, x: float, y: float, origin: str) -> PixelSize:
        """A PixelSize after checking both values are positive and finite.

        Raises
        ------
        PixelSizeError
        """
        for v in (x, y):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise PixelSizeError(f"pixel size must be a positive number of micrometres, got {v!r}")
        return cls(float(x), float(y), origin)

    @property
    def mean(self) -> float:
        """One size for the pixel, micrometres: the geometric mean of ``x`` and ``y`` (the side
        of a square pixel of the same area; ``x`` itself for a square pixel)."""
        return math.sqrt(self.x * self.y)

    def scaled(self, sy: float, sx: float, origin: str | None = None) -> PixelSize:
        """The pixel size of an image resampled by ``sy``/``sx`` source pixels per pixel."""
        return PixelSize(self.x * sx, self.y * sy, origin or self.origin)

    def to_json(self) -> dict:
        """``{"x_um": ..., "y_um": ..., "origin": ...}`` for the manifest."""
        return {"x_um": self.x, "y_um": self.y, "origin": self.origin}

    def __str__(self) -> str:
        if math.isclose(self.x, self.y, rel_tol=1e-9):
            return f"{self.x:.6g} um ({self.origin})"
        return f"{self.x:.6g} x {self.y:.6g} um ({self.origin})"


_UNITS_UM = {
    "m": 1e6, "meter": 1e6, "metre": 1e6,
    "dm": 1e5, "decimeter": 1e5,
    "cm": 1e4, "centimeter": 1e4, "centimetre": 1e4,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3,
    "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometre": 1.0, "\\u00b5m": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3,
    "pm": 1e-6, "picometer": 1e-6,
    "å": 1e-4, "Å": 1e-4, "angstrom": 1e-4,
    "in": 25400.0, "inch": 25400.0,
}


def unit_to_um(unit: str | None) -> float | None:
    """Micrometres per ``unit`` (OME, NGFF/UDUNITS and ImageJ spellings); None if unknown."""
    if unit is None:
        return None
    key = str(unit).strip()
    return _UNITS_UM.get(key, _UNITS_UM.get(key.lower()))


def _positive(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


#: Dots per inch that photo and screen software write by default (not a measurement).
DEFAULT_DPI = (72.0, 96.0)


def is_default_dpi(xres: float, yres: float, unit_um: float) -> bool:
    """True when ``xres``/``yres`` pixels per unit (``unit_um`` um) are 72 or 96 dpi,
    in any unit, to within 0.02 dpi (a PNG stores 72 dpi as 2835 px/m = 72.009 dpi)."""
    dpi_x, dpi_y = xres * 25400.0 / unit_um, yres * 25400.0 / unit_um
    return any(abs(dpi_x - d) <= 0.02 and abs(dpi_y - d) <= 0.02 for d in DEFAULT_DPI)


def from_resolution(xres, yres, unit_um: float | None, origin: str) -> PixelSize | None:
    """Pixel size from resolutions in pixels per unit (``unit_um`` micrometres per unit).

    None without a unit, or for 72/96 dpi in any unit (:func:`is_default_dpi`).
    """
    xres, yres = _positive(xres), _positive(yres)
    if unit_um is None or xres is None:
        return None
    yres = yres or xres
    if is_default_dpi(xres, yres, unit_um):
        return None  # software defaults, not a measurement
    return PixelSize(unit_um / xres, unit_um / yres, origin)


def from_ome_xml(xml: str, series: int = 0) -> PixelSize | None:
    """PhysicalSizeX/Y of image ``series`` of an OME-XML document."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    images = [el for el in root if el.tag.endswith("}Image") or el.tag == "Image"]
    if not images:
        return None
    image = images[min(series, len(images) - 1)]
    pixels = next((el for el in image if el.tag.endswith("Pixels")), None)
    if pixels is None:
        return None
    x = _positive(pixels.get("PhysicalSizeX"))
    y = _positive(pixels.get("PhysicalSizeY"))
    if x is None:
        return None
    ux = unit_to_um(pixels.get("PhysicalSizeXUnit", "µm"))
    uy = unit_to_um(pixels.get("PhysicalSizeYUnit", pixels.get("PhysicalSizeXUnit", "µm")))
    if ux is None or uy is None:
        return None
    return PixelSize(x * ux, (y if y is not None else x) * uy, "OME-TIFF PhysicalSizeX/Y")


_MPP = re.compile(r"\bMPP\s*=\s*([0-9.eE+-]+)")


def from_svs_description(description: str) -> PixelSize | None:
    """Aperio SVS: ``MPP = 0.499`` in the ImageDescription."""
    m = _MPP.search(description or "")
    mpp = _positive(m.group(1)) if m else None
    return PixelSize(mpp, mpp, "SVS MPP") if mpp else None


def from_ome_zarr(multiscale: dict, axes: list[str] | None) -> PixelSize | None:
    """OME-Zarr 0.4/0.5 ``coordinateTransformations`` of level 0, in micrometres.

    Parameters
    ----------
    multiscale : dict
        One entry of the ``multiscales`` list.
    axes : list of str or None
        Lower-case axis names, one per array axis.
    """
    ax_meta = multiscale.get("axes") or []
    if not axes or "y" not in axes or "x" not in axes:
        return None
    try:
        scale = [1.0] * len(axes)
        found = False
        for transforms in (multiscale["datasets"][0].get("coordinateTransformations"),
                           multiscale.get("coordinateTransformations")):
            for t in transforms or []:
                if t.get("type") == "scale" and "scale" in t:
                    vals = [float(v) for v in t["scale"]]
                    if len(vals) != len(axes):
                        return None
                    scale = [a * b for a, b in zip(scale, vals, strict=True)]
                    found = True
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    if not found:
        return None
    iy, ix = axes.index("y"), axes.index("x")
    units = [a.get("unit") if isinstance(a, dict) else None for a in ax_meta]
    units += [None] * (len(axes) - len(units))
    uy, ux = unit_to_um(units[iy]), unit_to_um(units[ix])
    if uy is None or ux is None:
        return None  # no unit (or an unknown one): no physical size
    y, x = _positive(scale[iy] * uy), _positive(scale[ix] * ux)
    if x is None or y is None:
        return None
    return PixelSize(x, y, "OME-Zarr coordinateTransformations")
