"""Figures without pyplot: one way to make and save a plot, leaving the user's backend alone.

`new_figure` makes a Matplotlib `Figure` on its own Agg canvas (not pyplot's global
state, so `matplotlib.use` is never called and a user's interactive backend is
untouched); `save_figure` writes it as a PNG atomically. Matplotlib is an optional
dependency (the `[train]` extra), imported when a figure is made.
"""

import io

from keras_resnetv2.utils.files import atomic_write_bytes


def new_figure(*, figsize, dpi=100, layout=None):
    """A Matplotlib `Figure` drawn on a private Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # optional dependency: matplotlib
    from matplotlib.figure import Figure  # optional dependency: matplotlib

    figure = Figure(figsize=figsize, dpi=dpi, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path, *, dpi=None):
    """Writes `figure` to `path` as a PNG, whole or not at all."""
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    atomic_write_bytes(path, out.getvalue())
