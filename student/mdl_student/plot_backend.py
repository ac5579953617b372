"""A matplotlib backend for grading: the student's plotting code runs, and nothing is drawn.

The grader's kernel selects it (``MPLBACKEND=module://mdl_student.plot_backend``).  Plotting
cells still run as written, since what they define may matter to later cells; only the drawing,
which no one looks at during grading, is left out:

* ``plt.show()`` draws nothing; it closes the figures, as Jupyter's inline backend does once it
  has shown them;
* ``tight_layout()`` leaves the layout as it is (it would draw every label to measure it: a
  tenth of a second or more per figure with mathematical text).

Everything else is matplotlib's Agg backend: ``savefig`` still draws and writes the file a student
asked for.  In JupyterLab, students keep their usual backend; this module is never imported there.
"""

from __future__ import annotations

from typing import Any

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, **kwargs: Any) -> None:
    """Close every figure without drawing it (Jupyter's inline backend closes them after showing)."""
    import matplotlib.pyplot as plt

    plt.close("all")


def _layout_left_alone(self: Figure, *args: Any, **kwargs: Any) -> None:
    """``Figure.tight_layout`` while grading: a figure's layout changes only how it looks."""


Figure.tight_layout = _layout_left_alone  # type: ignore[method-assign]
