"""socius drawing for people: the viewer's screen and matplotlib plots (never steps a world).

A world's own frame is drawn by ``socius.envs.render``, which the environments'
``render()`` needs; this package lays frames out and plots results.
"""
