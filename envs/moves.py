"""The one move table: the names and grid steps of the five moves, in action order.

A move is the first entry of an action. Move m steps an agent by
``(MOVE_ROW[m], MOVE_COL[m])`` cells (rows grow downwards); move 0 stays put, and the
other four are also the grid's neighbourhood, so shortest paths follow them too.
"""

from __future__ import annotations

import numpy as np

MOVE_NAMES = ("stay", "up", "down", "left", "right")
"""Name of each move, indexed by the move's action value."""
NUM_MOVES = len(MOVE_NAMES)
"""Number of moves (the first entry of ``MultiDiscrete`` actions ranges over it)."""
MOVE_ROW = np.array([0, -1, 1, 0, 0], dtype=np.int32)
"""Row step ``[NUM_MOVES]`` of each move."""
MOVE_COL = np.array([0, 0, 0, -1, 1], dtype=np.int32)
"""Column step ``[NUM_MOVES]`` of each move."""
