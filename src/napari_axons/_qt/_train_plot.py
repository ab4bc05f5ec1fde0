"""The training curve in the Train section: a real plot, readable in a narrow dock.

A matplotlib figure on a Qt canvas (``FigureCanvasQTAgg``): validation IoU of
every foreground class by optimiser step, one point per validation (solid;
training IoU dashed, thinner), the training and validation loss on a second
axis (grey), and the best validation so far (highest mean validation IoU over
the foreground classes) marked with a vertical line and its value. Axes are
labelled; the legend sits under the plot.
"""

from __future__ import annotations

import math

__all__ = ["CurvePlot", "best_step"]


def best_step(records: list[dict], names) -> tuple[float, float] | None:
    """``(step, mean foreground validation IoU)`` of the best record so far, or None."""
    best = None
    for r in records:
        values = [r["val_iou"].get(n) for n in names if n != "background"]
        values = [v for v in values if v is not None and not math.isnan(v)]
        if values:
            mean = sum(values) / len(values)
            if best is None or mean > best[1]:
                best = (r["step"], mean)
    return best


class CurvePlot:
    """A matplotlib canvas with the curves of a training run.

    Attributes
    ----------
    native : QWidget
        The canvas (add it to a layout).
    figure : matplotlib.figure.Figure
    """

    def __init__(self, height_px: int = 190):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, height_px / 80), dpi=80, layout="constrained")
        self.native = FigureCanvasQTAgg(self.figure)
        self.native.setMinimumHeight(height_px)
        self.draw([], ())

    def draw(self, records: list[dict], names, best: float | None = None) -> None:
        """Redraw from ``records`` (the trainer's validation records); ``best``: the step kept."""
        fig = self.figure
        fig.clear()
        ax = fig.add_subplot(1, 1, 1)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("IoU", fontsize=8)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        if not records:
            ax.set_title("validation IoU per class appears here while training", fontsize=8)
            self.native.draw_idle()
            return
        steps = [r["step"] for r in records]
        fg = [n for n in names if n != "background"]
        for k, name in enumerate(fg):
            colour = f"C{k}"
            ax.plot(steps, [r["val_iou"].get(name) for r in records], "-o", color=colour,
                    markersize=3, linewidth=1.8, label=f"{name} (validation)")
            ax.plot(steps, [r["train_iou"].get(name) for r in records], "--", color=colour,
                    linewidth=0.9, label=f"{name} (training)")
        loss = ax.twinx()
        loss.plot(steps, [r["train_loss"] for r in records], color="0.55", linewidth=0.9,
                  linestyle="--", label="loss (training)")
        loss.plot(steps, [r["val_loss"] for r in records], color="0.35", linewidth=0.9,
                  label="loss (validation)")
        loss.set_ylabel("loss", fontsize=8)
        loss.tick_params(labelsize=7)
        mark = best_step(records, names)
        if best is not None:  # the step the trainer kept
            mark = best_step([r for r in records if r["step"] == best], names) or mark
        if mark is not None:
            ax.axvline(mark[0], color="k", linewidth=1, linestyle=":")
            right = mark[0] > (steps[0] + steps[-1]) / 2  # the text on the roomier side
            ax.annotate(f"best: step {mark[0]:g}\nmean IoU {mark[1]:.2f}", (mark[0], mark[1]),
                        xytext=(-5 if right else 5, -24), textcoords="offset points", fontsize=7,
                        ha="right" if right else "left")
            ax.plot([mark[0]], [mark[1]], "k*", markersize=8)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles = ax.get_legend_handles_labels()
        more = loss.get_legend_handles_labels()
        fig.legend(handles[0] + more[0], handles[1] + more[1], loc="outside lower center",
                   ncol=2, fontsize=7, frameon=False)
        self.native.draw_idle()
