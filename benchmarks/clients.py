"""Speed of socius through the libraries people train with, against each library's
generic path, in world-steps per second (one step of one world; ``referential_v0`` is a
speaker-listener pair, 2 agent-steps).

    OMP_NUM_THREADS=1 python benchmarks/clients.py [--duration 3] [--repeats 3]

Cases, each measured side by side in every repetition (medians over repetitions; the
ratio is the median of the per-repetition ratios):

* **TorchRL**, B = 1024: ``make_torchrl`` stepped by ``step_and_maybe_reset`` (what
  ``rollout`` and collectors call), against ``make_vector`` with its default layout
  (Dict observation, ``[move, tokens]`` actions) and with the adapter's layout (flat
  float32 observation, joint actions, full mask in ``info``). Actions are drawn before
  the timer from a seeded generator and cycled through.
* **Collector**: TorchRL's collector (what BenchMARL's MAPPO collects with) filling
  batches of 10,240 frames with a uniform policy over allowed actions, through the
  native env at B = 1024 against ``PettingZooWrapper`` over ``parallel_env`` in a
  ``SerialEnv`` of 32 worlds (the path a BenchMARL user took before). The policy costs
  the same per frame on both sides.
* **SB3**: stepping the VecEnv with pre-drawn actions, and a whole ``PPO.learn`` of
  ``--ppo-steps`` steps, through ``sb3_vec_env`` (one core call for every copy) against
  ``supersuit_vec_env`` (one Python env per copy), 256 copies of the pair with PPO as
  ``benchmarks/training.py`` sets it up (rollouts of 10 steps, 2 epochs, minibatch 640).

Resets of ended worlds happen inside the timed steps, as training sees them. One torch
thread; numpy is single-threaded.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import statistics
import time
import warnings

import numpy as np
import torch

from socius.envs import make_vector, referential_v0

try:
    from socius.benchmarks.timing import rate
except ImportError:  # run as a plain script from a checkout without the package
    from timing import rate
from socius.envs.torchrl_env import LAYOUT, make_torchrl

POOL = 16
PAIR = dict(num_agents=2)


def pooled_rate(act, pool: list, worlds: int, duration: float) -> float:
    """World-steps/s of ``act(action)`` over ``worlds`` worlds, cycling through ``pool``."""
    counter = iter(range(10**12))

    def step() -> int:
        act(pool[next(counter) % POOL])
        return worlds

    return rate(step, duration)


def torchrl_adapter(num_envs: int, duration: float) -> float:
    """World-steps/s of the native TorchRL env under ``step_and_maybe_reset``."""
    env = make_torchrl("referential_v0", num_envs, seed=0, **PAIR)
    generator = torch.Generator().manual_seed(0)
    size = env.action_spec["speaker", "action"].space.n
    pool = [torch.randint(size, (num_envs, 1), generator=generator) for _ in range(POOL)]
    state = {"td": env.reset(), "k": 0}

    def step() -> int:
        td, k = state["td"], state["k"]
        td["speaker", "action"] = pool[k % POOL]
        td["listener", "action"] = pool[(k + 3) % POOL]
        _, state["td"] = env.step_and_maybe_reset(td)
        state["k"] = k + 1
        return num_envs

    return rate(step, duration)


def raw_vector(num_envs: int, duration: float, layout: dict) -> float:
    """World-steps/s of ``make_vector`` (auto-reset) with pre-drawn actions."""
    env = make_vector("referential_v0", num_envs, seed=0, **PAIR, **layout)
    generator = np.random.default_rng(0)
    if layout:
        size = int(env.single_action_space.n)
        pool = [torch.from_numpy(generator.integers(0, size, (num_envs, 2)))
                for _ in range(POOL)]
    else:
        pool = [env.sample_actions(generator) for _ in range(POOL)]
    env.reset()
    return pooled_rate(env.step, pool, num_envs, duration)


def masked_uniform(generator: torch.Generator):
    """A TorchRL policy: a uniform allowed action for every agent of every group."""
    def policy(tensordict):
        for group in [key for key in tensordict.keys() if isinstance(key, str)
                      and key not in ("done", "terminated", "truncated")]:
            mask = tensordict.get((group, "action_mask"), None)
            if mask is None:
                continue
            flat = mask.reshape(-1, mask.shape[-1]).float()
            draw = torch.multinomial(flat, 1, generator=generator).reshape(mask.shape[:-1])
            tensordict.set((group, "action"), draw)
        return tensordict
    return policy


def collector_rate(make_env, frames: int, duration: float) -> float:
    """Frames/s of TorchRL's collector with a uniform masked policy."""
    from torchrl import collectors

    policy = masked_uniform(torch.Generator().manual_seed(0))
    collector = collectors.Collector(make_env, policy, frames_per_batch=frames, total_frames=-1)
    batches = iter(collector)

    def step() -> int:
        return next(batches).numel()

    try:
        return rate(step, duration, warmup=1)
    finally:
        collector.shutdown()


def pettingzoo_serial(num_envs: int):
    """``PettingZooWrapper`` over the pair in a ``SerialEnv``, laid out as the adapter is
    (flat floats, joint actions, full mask beside the observation)."""
    from torchrl.envs import SerialEnv
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    settings = {**LAYOUT, "mask_in": "wrapped", **PAIR}

    def one():
        return PettingZooWrapper(referential_v0.parallel_env(seed=0, **settings))

    return SerialEnv(num_envs, one)


def sb3_stepping(make, copies: int, duration: float) -> float:
    """World-steps/s of an SB3 VecEnv with pre-drawn actions."""
    vec = make("referential_v0", copies, seed=0, **PAIR)
    generator = np.random.default_rng(0)
    high = vec.action_space.nvec
    pool = [generator.integers(0, high, size=(vec.num_envs, len(high))) for _ in range(POOL)]
    vec.reset()
    return pooled_rate(vec.step, pool, copies, duration)


def sb3_ppo_seconds(make, copies: int, steps: int) -> float:
    """Wall-clock seconds of ``PPO.learn(steps)`` (SB3 counts agent-steps) on the pair."""
    from stable_baselines3 import PPO

    vec = make("referential_v0", copies, seed=0, flat_dtype="float32", **PAIR)
    # The constants of benchmarks/training.py: rollouts of 10 steps, 2 epochs, minibatch
    # 640 agent-steps, widths 64.
    model = PPO("MlpPolicy", vec, seed=0, n_steps=10, batch_size=640, n_epochs=2,
                policy_kwargs=dict(net_arch=[64, 64]), device="cpu")
    start = time.perf_counter()
    model.learn(steps)
    return time.perf_counter() - start


def versions() -> dict[str, str]:
    """Python and the libraries measured."""
    found = {"python": platform.python_version()}
    for name in ("numpy", "torch", "torchrl", "tensordict", "benchmarl", "stable-baselines3",
                 "supersuit", "pettingzoo"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main(argv=None) -> dict[str, list[float]]:
    """Measure every case ``--repeats`` times and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ppo-steps", type=int, default=102_400,
                        help="SB3 agent-steps per PPO run (20 rollouts of 256 pairs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    from socius.envs.wrappers import sb3_vec_env, supersuit_vec_env

    big, copies = 1024, 256
    runs: dict[str, list[float]] = {}
    for repeat in range(args.repeats):
        row = {
            "torchrl adapter": torchrl_adapter(big, args.duration),
            "make_vector, default layout": raw_vector(big, args.duration, {}),
            "make_vector, adapter layout": raw_vector(big, args.duration, LAYOUT),
            "collector, native": collector_rate(
                lambda: make_torchrl("referential_v0", big, seed=0, **PAIR), 10 * big,
                args.duration),
            "collector, PettingZooWrapper": collector_rate(
                lambda: pettingzoo_serial(32), 320, args.duration),
            "sb3 stepping, native": sb3_stepping(sb3_vec_env, copies, args.duration),
            "sb3 stepping, supersuit": sb3_stepping(supersuit_vec_env, copies, args.duration),
            "sb3 PPO seconds, native": sb3_ppo_seconds(sb3_vec_env, copies, args.ppo_steps),
            "sb3 PPO seconds, supersuit": sb3_ppo_seconds(supersuit_vec_env, copies,
                                                          args.ppo_steps),
        }
        row["ratio torchrl / default"] = row["torchrl adapter"] / row[
            "make_vector, default layout"]
        row["ratio torchrl / same layout"] = row["torchrl adapter"] / row[
            "make_vector, adapter layout"]
        row["ratio collector"] = row["collector, native"] / row["collector, PettingZooWrapper"]
        row["ratio sb3 stepping"] = row["sb3 stepping, native"] / row["sb3 stepping, supersuit"]
        row["ratio sb3 PPO"] = row["sb3 PPO seconds, supersuit"] / row[
            "sb3 PPO seconds, native"]
        for key, value in row.items():
            runs.setdefault(key, []).append(value)
        print(f"repeat {repeat}: " + ", ".join(f"{k} {v:,.2f}" for k, v in row.items()),
              flush=True)
    print("\nmedians (world-steps/s unless named):")
    for key, values in runs.items():
        print(f"  {key:<32} {statistics.median(values):>14,.2f}")
    print("versions:", versions())
    return runs


if __name__ == "__main__":
    main()
