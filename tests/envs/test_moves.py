"""The one move table means what its names say: rows grow downwards, columns rightwards."""

from __future__ import annotations

from socius.envs.moves import MOVE_COL, MOVE_NAMES, MOVE_ROW, NUM_MOVES


def test_each_move_steps_the_way_it_is_named():
    expected = {"stay": (0, 0), "up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
    steps = {name: (int(MOVE_ROW[m]), int(MOVE_COL[m])) for m, name in enumerate(MOVE_NAMES)}
    assert steps == expected
    assert NUM_MOVES == len(MOVE_ROW) == len(MOVE_COL) == 5


def test_the_worlds_and_their_drawing_share_the_table():
    from socius.envs import core, observe, render

    for module in (core, observe, render):
        assert module.MOVE_ROW is MOVE_ROW and module.MOVE_COL is MOVE_COL, module.__name__
