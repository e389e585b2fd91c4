"""Shared test setup: headless pygame, and the tests folder importable."""

import os
import sys

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "envs"))


import pytest  # noqa: E402


@pytest.fixture
def one_torch_thread():
    """Pin torch to one thread: learning tests then give the same numbers on every machine
    (reductions split over threads round differently)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
