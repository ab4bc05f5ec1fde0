"""AxonDeepSeg's morphometrics as the reference, run in its own Python (another venv).

``run_ads(python, axon, myelin, pixel_size)`` saves the two masks as ``.npy``
files, runs ``AxonDeepSeg.morphometrics.compute_morphometrics.get_axon_morphometrics``
in a child process of ``python`` (a venv with ``pip install axondeepseg``, or
``--no-deps`` plus numpy, scipy, scikit-image, pandas, matplotlib, loguru,
requests, tqdm, imageio, pillow), and returns its rows, its time and the child's
peak resident memory. The masks are passed as AxonDeepSeg's command line passes
them: uint8 0/255 arrays.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from loguru import logger
logger.remove()
from AxonDeepSeg.morphometrics.compute_morphometrics import get_axon_morphometrics
axon, myelin = np.load(sys.argv[1]), np.load(sys.argv[2])
px = float(sys.argv[3])
start = time.perf_counter()
if len(sys.argv) > 5:  # also its fibre labels (the watershed), for figures
    df, _, labels = get_axon_morphometrics(axon, im_myelin=myelin, pixel_size=px,
                                           return_instance_seg=True,
                                           return_im_axonmyelin_label=True)
    np.save(sys.argv[5], labels)
else:
    df = get_axon_morphometrics(axon, im_myelin=myelin, pixel_size=px)
seconds = time.perf_counter() - start
rows = json.loads(df.to_json(orient="records"))
# VmHWM, not ru_maxrss: the latter keeps the high-water mark of the forked parent
peak = [int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
with open(sys.argv[4], "w") as fh:
    json.dump({"rows": rows, "seconds": seconds, "peak_rss": peak}, fh)
"""


def run_ads(python: str, axon: np.ndarray, myelin: np.ndarray, pixel_size: float, *,
            timeout: float | None = None, labels: bool = False) -> dict:
    """``{"rows": [...], "seconds": float, "peak_rss": bytes}`` of AxonDeepSeg on two masks
    (with ``labels``, also ``"labels"``: its fibre label image, the watershed's).

    Raises
    ------
    RuntimeError
        The child failed (its last lines of stderr) or ran past ``timeout``.
    """
    with tempfile.TemporaryDirectory(prefix="ads-ref-") as tmp:
        tmp = Path(tmp)
        np.save(tmp / "axon.npy", (np.asarray(axon) > 0).astype(np.uint8) * 255)
        np.save(tmp / "myelin.npy", (np.asarray(myelin) > 0).astype(np.uint8) * 255)
        cmd = [python, "-c", _CHILD, str(tmp / "axon.npy"), str(tmp / "myelin.npy"),
               repr(float(pixel_size)), str(tmp / "out.json")]
        if labels:
            cmd.append(str(tmp / "labels.npy"))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"AxonDeepSeg ran past {timeout:.0f} s") from exc
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"AxonDeepSeg failed (exit {proc.returncode}): {tail}")
        out = json.loads((tmp / "out.json").read_text())
        if labels:
            out["labels"] = np.load(tmp / "labels.npy")
        return out
