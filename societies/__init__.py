"""socius societies: experiments, their engine, runs and viewer (they need the train extra)."""

import importlib.util

if importlib.util.find_spec("torch") is None:
    raise ImportError(
        "socius's agents and experiments train with torch, which is not installed: "
        "pip install 'socius[train]' (on a CPU machine: pip install torch==2.13.0 first). "
        "The worlds (socius.envs) need no torch.")
