"""Drawing a check for people: the interactive timeline page and the matplotlib figures.

``timeline.write_timeline(path, history, result, counterexample)`` writes timeline.html (one self-contained file,
a lane per worker from ``lanes``, the checker's badges and marked anomalies from ``marks``, values written by
``clipped``); ``figures.draw_all(history, result, counterexample, out_dir)`` writes the anomaly window, Elle's cycle
figures, latency, rate and availability plots.  Both read only a ``History`` and a ``Result`` (and, optionally, the
minimal counterexample); ``faults`` gives both the same fault windows, labels and colours.
"""
from __future__ import annotations

__all__ = ["timeline", "figures", "faults", "lanes", "marks", "clipped"]
