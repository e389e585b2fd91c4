"""Training throughput on ``referential_v0``: socius's population trainer beside
Stable-Baselines3 PPO through SuperSuit, in environment steps per wall-clock second.

    OMP_NUM_THREADS=1 python benchmarks/training.py [--duration 20] [--repetitions 3]
        [--population 1 4]

What is counted. An *environment step* is one step of one ``referential_v0`` world
(a speaker and a listener, so 2 agent-steps); the clock runs over whole training
iterations, i.e. acting, stepping the worlds AND the PPO updates.

* socius (``socius.societies.language.train``): one round = ``play`` + ``update`` =
  ``num_envs x rollout_steps`` environment steps (256 x 10), every world resetting itself
  the step its episode ends (so every step is live), then 2 PPO epochs of 8 minibatches
  (320 world steps = 640 agent-steps each) over the stacked members (hidden 64).
* SB3: ``PPO("MlpPolicy")`` with ``net_arch=[64, 64]`` on
  ``concat_vec_envs_v1(pettingzoo_env_to_vec_env_v1(world), num_vec_envs=256)``.
  SuperSuit turns each agent into one vec-env slot, so SB3 sees 512 slots; its
  ``num_timesteps`` counts slot-steps and the environment steps reported here are
  ``num_timesteps / 2``. Ended worlds reset at once, so every step is live. One
  iteration = ``n_steps=10`` steps of the 256 worlds (the same 2,560 environment steps
  as a socius round), then 2 epochs of 8 minibatches (``batch_size=640`` slot-steps).

Both sides use the world socius trains on (``LanguageConfig().world``, training split:
room 5, 3 objects, V=8, L=2, 10 cycles, view radius 4, held-out pairs removed). SB3's
MlpPolicy needs a Box: the world's own ``flatten=True`` option gives each agent its
Dict observation as one int32 vector (450 values, 405 of them the 5x9x9 view), and
``FloatBoxEnv`` below casts it to float32. (SuperSuit's ``flatten_v0`` only flattens a
Box, and its observation wrappers turn a ParallelEnv into an AEC env and back.)

Method: each trainer (the pair, the 4 + 4 population, SB3) is warmed up, its iteration
rate measured, and each repetition then times a whole number of iterations lasting about
``--duration`` seconds of every trainer, back to back. Reported: the median steps/s of
each, the medians of the per-repetition ratios to SB3 and to the pair, and the share of
socius's round spent in the update.
One torch thread throughout. socius draws from seeded generators only; SB3 seeds (and
samples from) torch's and numpy's global RNGs itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import math
import platform
import statistics
import time
from collections.abc import Callable

import gymnasium
import numpy as np
import torch
from pettingzoo import ParallelEnv

from socius.envs import referential_v0
from socius.societies.language.train import (
    LanguageConfig,
    draw_members,
    make_optimizer,
    make_population,
    make_world,
    play,
    schedule,
    start_stream,
    update,
)

SEED = 0
AGENTS_PER_WORLD = 2  # one speaker, one listener


# ------------------------------------------------------------------ socius


class SociusTrainer:
    """socius's language trainer, one round per ``iterate`` call."""

    def __init__(self, config: LanguageConfig, seed: int = SEED):
        self.config = config
        self.world = make_world(config, "train")
        self.generator = torch.Generator().manual_seed(seed)
        self.population = make_population(config, self.world, self.generator)
        self.optimizer = make_optimizer(config, self.population)
        self.pairing = np.random.default_rng(seed)
        self.carry = start_stream(config, self.world, schedule(config, self.pairing))
        self.seconds = {"play": 0.0, "update": 0.0}

    def iterate(self) -> int:
        """Play and learn from one round; returns the environment steps taken."""
        config = self.config
        started = time.perf_counter()
        episode, self.carry = play(config, self.population, self.carry,
                                   config.rollout_steps, self.generator,
                                   draw_members(config, self.pairing))
        played = time.perf_counter()
        update(config, self.population, self.optimizer, episode, self.generator)
        self.seconds["play"] += played - started
        self.seconds["update"] += time.perf_counter() - played
        return config.num_envs * config.rollout_steps

    def parameters(self) -> int:
        """Weights of the whole population."""
        return sum(p.numel() for p in self.population.parameters())


# --------------------------------------------------------------------- SB3


class FloatBoxEnv(ParallelEnv):
    """A ParallelEnv whose flat integer Box observations are handed on as float32."""

    def __init__(self, env: ParallelEnv):
        self.env = env
        self.metadata = env.metadata
        self.render_mode = env.render_mode
        self.possible_agents = list(env.possible_agents)
        space = env.observation_space(self.possible_agents[0])
        self._space = gymnasium.spaces.Box(space.low.astype(np.float32),
                                           space.high.astype(np.float32), dtype=np.float32)

    @property
    def agents(self) -> list[str]:
        """The live agents of the wrapped env."""
        return self.env.agents

    def observation_space(self, agent: str) -> gymnasium.spaces.Box:
        """The float32 Box shared by every agent."""
        return self._space

    def action_space(self, agent: str) -> gymnasium.Space:
        """The wrapped env's action space."""
        return self.env.action_space(agent)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Reset the wrapped env."""
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._cast(observations), infos

    def step(self, actions: dict):
        """Step the wrapped env."""
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        return self._cast(observations), rewards, terminations, truncations, infos

    def close(self):
        """Close the wrapped env."""
        self.env.close()

    @staticmethod
    def _cast(observations: dict) -> dict:
        return {agent: value.astype(np.float32) for agent, value in observations.items()}


def sb3_vec_env(config: LanguageConfig, num_worlds: int, seed: int = SEED):
    """``num_worlds`` copies of the world as one SB3 VecEnv of ``2 x num_worlds`` slots."""
    import supersuit
    from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

    class SeedableSB3VecEnv(SB3VecEnvWrapper):
        """SuperSuit's SB3 wrapper plus the ``seed`` that ``PPO(seed=...)`` calls."""

        def seed(self, seed: int | None = None):
            """Reset every world, world i with ``seed + i``."""
            # SuperSuit's ConcatVecEnv has no seed(); its reset(seed) gives copy i seed + i,
            # without which the copies (pickled from one env) would all share one seed.
            self.venv.reset(seed=seed)
            return [None] * self.num_envs

    world = dataclasses.replace(config.world, split="train", flatten=True)
    env = FloatBoxEnv(referential_v0.parallel_env(**dataclasses.asdict(world)))
    vec = supersuit.pettingzoo_env_to_vec_env_v1(env)
    # base_class="gymnasium" and the wrapper above stand in for base_class="stable_baselines3".
    vec = supersuit.concat_vec_envs_v1(vec, num_vec_envs=num_worlds, num_cpus=0,
                                       base_class="gymnasium")
    vec = SeedableSB3VecEnv(vec)
    vec.seed(seed)
    return vec


class SB3Trainer:
    """Stable-Baselines3 PPO, one rollout + update per ``iterate`` call."""

    def __init__(self, config: LanguageConfig, num_worlds: int, n_steps: int,
                 seed: int = SEED):
        from stable_baselines3 import PPO

        self.env = sb3_vec_env(config, num_worlds, seed)
        slots = self.env.num_envs
        self.model = PPO("MlpPolicy", self.env, learning_rate=config.learning_rate,
                         n_steps=n_steps, batch_size=slots * n_steps // config.minibatches,
                         n_epochs=config.epochs, gamma=config.gamma,
                         gae_lambda=config.gae_lambda, clip_range=config.clip,
                         ent_coef=config.move_entropy, vf_coef=config.value_weight,
                         max_grad_norm=1.0,
                         policy_kwargs=dict(net_arch=[config.hidden, config.hidden]),
                         device="cpu", seed=seed, verbose=0)
        self.slot_steps = slots * n_steps
        self.started = False

    def iterate(self, iterations: int = 1) -> int:
        """Collect and learn from ``iterations`` rollouts; returns the environment steps."""
        before = self.model.num_timesteps
        self.model.learn(iterations * self.slot_steps, reset_num_timesteps=not self.started)
        self.started = True
        return (self.model.num_timesteps - before) // AGENTS_PER_WORLD

    def parameters(self) -> int:
        """Weights of the shared policy (actor and critic)."""
        return sum(p.numel() for p in self.model.policy.parameters())


# ------------------------------------------------------------------ timing


def timed(run: Callable[[], int]) -> tuple[int, float]:
    """(environment steps, seconds) of one call of ``run``."""
    start = time.perf_counter()
    steps = run()
    return steps, time.perf_counter() - start


def versions() -> str:
    """One line of the versions that matter."""
    names = ("numpy", "torch", "stable-baselines3", "supersuit", "pettingzoo", "gymnasium")
    found = [f"python {platform.python_version()}"]
    found += [f"{name} {importlib.metadata.version(name)}" for name in names]
    return ", ".join(found)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Time the trainers side by side and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds per side per repetition")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2, help="iterations per side")
    parser.add_argument("--sb3-worlds", type=int, default=None,
                        help="worlds in SB3's vec env (default: socius's num_envs)")
    parser.add_argument("--sb3-steps", type=int, default=None,
                        help="SB3 n_steps (default: socius's rollout_steps)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--population", type=int, nargs="+", default=[1, 4],
                        help="population sizes of the socius trainers (speakers = listeners)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    configs = {f"socius {size}+{size}": LanguageConfig(seed=args.seed, population=size)
               for size in args.population}
    first = next(iter(configs.values()))
    worlds = args.sb3_worlds or first.num_envs
    n_steps = args.sb3_steps or first.rollout_steps
    trainers: dict = {name: SociusTrainer(config, args.seed) for name, config in configs.items()}
    trainers["SB3 PPO + SuperSuit"] = SB3Trainer(first, worlds, n_steps, args.seed)
    # The last warm-up iteration sets how many iterations fill --duration.
    sizes = {}
    for name, trainer in trainers.items():
        for _ in range(args.warmup):
            steps, seconds = timed(trainer.iterate)
        sizes[name] = max(1, math.ceil(args.duration / seconds))
    for trainer in trainers.values():
        if isinstance(trainer, SociusTrainer):
            trainer.seconds = {"play": 0.0, "update": 0.0}

    rates: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(args.repetitions):
        # One repetition times every trainer back to back, so a load on the machine
        # touches all of them alike; ratios are taken within a repetition.
        for name, trainer in trainers.items():
            if isinstance(trainer, SociusTrainer):
                steps, seconds = timed(lambda t=trainer, n=sizes[name]: sum(
                    t.iterate() for _ in range(n)))
            else:
                steps, seconds = timed(lambda t=trainer, n=sizes[name]: t.iterate(n))
            rates[name].append(steps / seconds)
    sb3_name = "SB3 PPO + SuperSuit"
    pair_name = next(iter(configs))
    median = {name: statistics.median(values) for name, values in rates.items()}

    print(f"referential_v0 training, {args.repetitions} x ~{args.duration:g} s per trainer, "
          f"torch threads {torch.get_num_threads()}, seed {args.seed}")
    print(f"socius: {first.num_envs} worlds x {first.rollout_steps} steps/round (every "
          f"world resets itself, so every step is live), {first.epochs} epochs x "
          f"{first.minibatches} minibatches")
    print(f"SB3 PPO: {worlds} worlds ({2 * worlds} slots) x {n_steps} steps/iteration, "
          f"{first.epochs} epochs x batch {trainers[sb3_name].model.batch_size}")
    print()
    print("| trainer | weights | env steps/s | agent-steps/s | per repetition | vs SB3 | "
          "vs the pair | update share |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    result: dict[str, float] = {}
    for name, trainer in trainers.items():
        runs = ", ".join(f"{rate:,.0f}" for rate in rates[name])
        versus_sb3 = statistics.median(a / b for a, b in zip(rates[name], rates[sb3_name]))
        versus_pair = statistics.median(a / b for a, b in zip(rates[name], rates[pair_name]))
        share = (f"{trainer.seconds['update'] / sum(trainer.seconds.values()):.0%}"
                 if isinstance(trainer, SociusTrainer) else "")
        print(f"| {name} | {trainer.parameters():,} | {median[name]:,.0f} | "
              f"{AGENTS_PER_WORLD * median[name]:,.0f} | {runs} | {versus_sb3:.2f}x | "
              f"{versus_pair:.2f}x | {share} |")
        result[name] = median[name]
        result[f"{name} / SB3"] = versus_sb3
    print(versions())
    return result


if __name__ == "__main__":
    main()
