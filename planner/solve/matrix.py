"""The one hand-off of a small LP to highspy as arrays: columns with costs and bounds, rows as
(lower, upper, columns, coefficients). Used by the stress test's recourse LP and the network's
deliverable-supply LP, which are solved by HiGHS directly, without Pyomo."""

from __future__ import annotations

from collections.abc import Sequence

import highspy
import numpy as np

from planner.solve.highs import new_highs

INF = highspy.kHighsInf
Row = tuple[float, float, Sequence[int], Sequence[float]]
"""(lower, upper, column indices, coefficients) of one row."""


def lp(cost: np.ndarray, upper: np.ndarray, rows: Sequence[Row]) -> highspy.Highs:
    """A quiet highspy model: one column per entry of ``cost`` (bounds [0, upper]), then ``rows``."""
    h = new_highs()
    n = len(cost)
    if n:
        h.addCols(n, np.asarray(cost, dtype=float), np.zeros(n), np.asarray(upper, dtype=float), 0,
                  np.array([], dtype=np.int32), np.array([], dtype=np.int32), np.array([], dtype=float))
    if rows:
        starts = np.cumsum([0] + [len(r[2]) for r in rows[:-1]]).astype(np.int32)
        index = np.array([c for r in rows for c in r[2]], dtype=np.int32)
        value = np.array([v for r in rows for v in r[3]], dtype=float)
        h.addRows(len(rows), np.array([r[0] for r in rows], dtype=float), np.array([r[1] for r in rows], dtype=float),
                  len(index), starts, index, value)
    return h


def optimal(h: highspy.Highs) -> bool:
    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def status_text(h: highspy.Highs) -> str:
    return h.modelStatusToString(h.getModelStatus())
