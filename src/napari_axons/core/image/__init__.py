"""Images: open any supported file lazily, read regions with bounded memory, convert to RGB.

Readers for TIFF (and SVS/NDPI/OME-TIFF), Pillow formats (PNG, JPEG, ...),
vendor slides (OpenSlide, bioio) and Zarr/OME-Zarr give one
:class:`SourceImage`; the axes and colour rules are one each for every format;
:class:`WorkingImage` is the image at the export's downsample factor; the
pyramid is built for napari when a file has none; :mod:`.sample` makes the
synthetic slides.
"""

from .arrays import array_fingerprint, array_source
from .axes import UNNAMED_AXES, reduce_axes, unnamed_axes
from .colour import IntensityRange, intensity_range_for, to_rgb8
from .open import PIL_SUFFIXES, TIFF_SUFFIXES, open_image
from .pyramid import PyramidBuild, open_pyramid, pyramid_levels
from .sample import MYELINATED_CLASSES, make_axon_sample, make_myelinated_sample
from .source import ImageReadError, PixelConvert, RegionSource, SourceImage, ZarrPlane, short_error
from .working import WorkingImage

__all__ = ["open_image", "SourceImage", "ImageReadError", "IntensityRange", "to_rgb8",
           "intensity_range_for", "reduce_axes", "unnamed_axes", "UNNAMED_AXES", "RegionSource",
           "ZarrPlane", "PixelConvert", "short_error", "WorkingImage", "array_source",
           "array_fingerprint", "TIFF_SUFFIXES", "PIL_SUFFIXES", "PyramidBuild", "open_pyramid",
           "pyramid_levels", "MYELINATED_CLASSES", "make_axon_sample", "make_myelinated_sample"]
