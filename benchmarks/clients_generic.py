"""Speed of socius through Tianshou, AgileRL and RLlib (one world per env), each beside the
plain PettingZoo facade measured in the same run, in world-steps per second of
``referential_v0`` (the speaker-listener pair, 2 agent-steps per world-step).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/clients_generic.py          # Tianshou
    OMP_NUM_THREADS=1 .venv-agilerl/bin/python benchmarks/clients_generic.py  # AgileRL
    OMP_NUM_THREADS=1 .venv-rllib/bin/python benchmarks/clients_generic.py    # RLlib

Options: ``--duration 3 --repeats 3``. Each library's section runs only where it imports,
so the same script serves the three virtual environments (.ci/agilerl, .ci/rllib).

Every case acts with a uniform policy over the allowed actions: scores drawn before the
timer from a seeded numpy Generator, cycled, and the best allowed score taken (a mask over
moves leaves the tokens free). The reference runs with the library's own world settings:
``referential_v0.parallel_env`` stepping one world, and ``make_vector`` (mask in
``info``) at the library's batch. In every repetition each case runs between two facade
runs and its ratio is to their geometric mean (the machine's load drifts); the table gives
medians over repetitions. Resets of ended worlds happen inside the timed steps. One torch
thread; numpy is single-threaded.

* **Tianshou**: its ``Collector`` over a ``DummyVectorEnv`` of 8 ``PettingZooEnv`` copies
  (AEC: one agent per env step, so a world-step is 2 collected steps) into a
  ``VectorReplayBuffer``; the world as Tianshou's DQN needs it (flat float32, one Discrete
  joint action with its full mask, ``mask_in="wrapped"``); also the AEC ``env()`` alone.
* **AgileRL**: what ``train_multi_agent_on_policy`` collects through when given the raw
  ``ParallelEnv`` (its ``AsyncPettingZooVecEnv`` drops masks): ``PzDummyVecEnv``, one
  world with a batch dimension and auto-reset, with the repo's settings (flat float32,
  mask in ``info`` over every action part); acting uniformly, and with IPPO's own
  ``get_action`` (its networks' forward pass included).
* **RLlib**: ``ParallelPettingZooEnv`` stepped by hand, and a ``MultiAgentEnvRunner``
  (what ``num_env_runners=0`` samples with) built from the repo's PPO config, sampling
  ``random_actions`` (RLlib's own uniform draw, unmasked) and with the PPO modules.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform
import statistics
import warnings

import numpy as np

from socius.envs import make_vector, referential_v0

try:
    from socius.benchmarks.timing import rate
except ImportError:  # run as a plain script from a checkout without the package
    from timing import rate

POOL = 16
PAIR = dict(num_agents=2)
TIANSHOU = dict(flatten=True, flat_dtype="float32", mask_in="wrapped", joint_actions=True,
                action_mask="full")
AGILERL = dict(flatten=True, flat_dtype="float32", mask_in="info", action_mask="components")
RLLIB: dict = {}  # the repo's RLlib test and example: the default Dict, mask over moves


def layout(settings: dict) -> tuple[np.ndarray | None, int]:
    """(nvec, width): the action parts (None for one joint Discrete) and the score width."""
    space = referential_v0.parallel_env(seed=0, **PAIR, **settings).action_space("speaker_0")
    if hasattr(space, "n"):
        return None, int(space.n)
    return space.nvec, int(space.nvec.sum())


def masked_choice(mask, scores: np.ndarray, nvec) -> np.ndarray:
    """The allowed action with the best score per row: a joint index, or [move, tokens]."""
    mask = np.asarray(mask, dtype=bool)
    if nvec is None:
        return np.where(mask, scores, -1.0).argmax(axis=-1)
    full = np.ones(scores.shape, dtype=bool)
    full[..., :mask.shape[-1]] = mask  # a mask over moves alone leaves the tokens free
    allowed = np.where(full, scores, -1.0)
    bounds = np.cumsum([0, *nvec])
    return np.stack([allowed[..., a:b].argmax(axis=-1)
                     for a, b in zip(bounds[:-1], bounds[1:])], axis=-1)


def score_pool(rows: tuple, width: int, seed: int = 0) -> np.ndarray:
    """``POOL`` pre-drawn uniform score arrays ``[*rows, width]``."""
    return np.random.default_rng(seed).random((POOL, *rows, width))


def facade_rate(settings: dict, duration: float) -> float:
    """World-steps/s of ``referential_v0.parallel_env`` (one world) under the uniform policy."""
    env = referential_v0.parallel_env(seed=0, **PAIR, **settings)
    agents = env.possible_agents
    nvec, width = layout(settings)
    pool = score_pool((len(agents),), width)
    state = {"k": 0}
    state["obs"], state["infos"] = env.reset()

    def step() -> int:
        obs, infos = state["obs"], state["infos"]
        masks = [obs[a]["action_mask"] if isinstance(obs[a], dict)
                 else infos[a]["action_mask"] for a in agents]
        actions = masked_choice(np.stack(masks), pool[state["k"] % POOL], nvec)
        state["obs"], _, _, _, state["infos"] = env.step(dict(zip(agents, actions)))
        if not env.agents:
            state["obs"], state["infos"] = env.reset()
        state["k"] += 1
        return 1

    return rate(step, duration)


def aec_rate(settings: dict, duration: float) -> float:
    """World-steps/s of the AEC ``referential_v0.env`` (one world, agents in turn)."""
    env = referential_v0.env(seed=0, **PAIR, **settings)
    nvec, width = layout(settings)
    agents = len(env.possible_agents)
    pool = score_pool((agents,), width)
    env.reset()
    counter = iter(range(10**12))

    def step() -> int:
        for i in range(agents):
            observation, _, _, _, info = env.last()
            mask = (observation["action_mask"] if isinstance(observation, dict)
                    else info["action_mask"])
            env.step(masked_choice(mask, pool[next(counter) % POOL][i], nvec))
        if any(env.last()[2:4]):  # ended: the next agent's turn reports it (Tianshou resets)
            env.reset()
        return 1

    return rate(step, duration)


def vector_rate(settings: dict, num_envs: int, duration: float) -> float:
    """World-steps/s of ``make_vector`` (auto-reset, mask in ``info``) at ``num_envs``."""
    env = make_vector("referential_v0", num_envs, seed=0, **PAIR,
                      **{**settings, "mask_in": "info"})
    nvec, width = layout(settings)
    pool = score_pool((num_envs, env.num_agents), width)
    env.reset()
    counter = iter(range(10**12))

    def step() -> int:
        env.step(masked_choice(env.action_mask.numpy(), pool[next(counter) % POOL], nvec))
        return num_envs

    return rate(step, duration)


def tianshou_collector(duration: float, copies: int = 8) -> float:
    """World-steps/s of Tianshou's Collector over ``copies`` PettingZooEnv worlds."""
    from tianshou.algorithm.algorithm_base import Policy
    from tianshou.data import Batch, Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv, PettingZooEnv

    nvec, width = layout(TIANSHOU)
    pool = score_pool((copies,), width)

    class Uniform(Policy):
        """A uniform allowed joint action for whichever agent's turn it is, in each env."""

        def forward(self, batch, state=None, **kwargs):
            """One action per row of the batch."""
            self.k = getattr(self, "k", -1) + 1
            mask = np.asarray(batch.obs.mask, dtype=bool)
            return Batch(act=masked_choice(mask, pool[self.k % POOL][:len(mask)], nvec))

    seeds = iter(range(10**6))

    def make():
        return PettingZooEnv(referential_v0.env(seed=next(seeds), **PAIR, **TIANSHOU))

    probe = make()
    collector = Collector(Uniform(action_space=probe.action_space, action_bound_method=None),
                          DummyVectorEnv([make] * copies), VectorReplayBuffer(20_000, copies))
    collector.reset()
    collector.collect(n_step=copies * 4)  # numba compiles the buffer's helpers once

    def collect() -> int:
        # AEC: each collected step is one agent's turn; a world-step is all of them.
        return collector.collect(n_step=32 * copies).n_collected_steps // 2

    return rate(collect, duration, warmup=1)


def tianshou_cases(duration: float) -> dict:
    """Tianshou's Collector, the AEC env alone and ``make_vector`` at the same batch."""
    return {"tianshou Collector, 8 PettingZooEnv": lambda: tianshou_collector(duration),
            "AEC env(), one world": lambda: aec_rate(TIANSHOU, duration),
            "make_vector, B = 8": lambda: vector_rate(TIANSHOU, 8, duration)}


def agilerl_loop(env, choose, duration: float) -> float:
    """World-steps/s of ``PzDummyVecEnv(env)``, what AgileRL's training loop steps."""
    # train_multi_agent_on_policy wraps a raw ParallelEnv in it: a batch of 1, auto-reset.
    from agilerl.vector.dummy_vec_env import PzDummyVecEnv

    vec = PzDummyVecEnv(env)
    state = {}
    state["obs"], state["info"] = vec.reset(seed=0)

    def step() -> int:
        action = choose(state["obs"], state["info"])
        state["obs"], _, _, _, state["info"] = vec.step(action)
        return 1

    return rate(step, duration)


def agilerl_rate(duration: float, use_ippo: bool) -> float:
    """World-steps/s of AgileRL's collection, acting uniformly or with IPPO."""
    import torch
    from agilerl.algorithms import IPPO

    env = referential_v0.parallel_env(seed=0, **PAIR, **AGILERL)
    agents = env.possible_agents
    nvec, width = layout(AGILERL)
    pool = score_pool((len(agents),), width)
    counter = iter(range(10**12))

    def uniform(obs, infos):
        scores = pool[next(counter) % POOL]
        return {a: masked_choice(infos[a]["action_mask"], scores[i], nvec)[None]
                for i, a in enumerate(agents)}

    if not use_ippo:
        return agilerl_loop(env, uniform, duration)
    torch.manual_seed(0)
    learner = IPPO([env.observation_space(a) for a in agents],
                   [env.action_space(a) for a in agents], agent_ids=agents,
                   learn_step=256, batch_size=64)
    learner.set_training_mode(True)

    def ippo(obs, infos):
        action, *_ = learner.get_action(obs=obs, infos=infos)
        return action

    return agilerl_loop(env, ippo, duration)


def agilerl_cases(duration: float) -> dict:
    """AgileRL's collection (uniform, and IPPO's own actions) and ``make_vector``."""
    return {"agilerl PzDummyVecEnv, uniform": lambda: agilerl_rate(duration, False),
            "agilerl PzDummyVecEnv, IPPO get_action": lambda: agilerl_rate(duration, True),
            "make_vector, B = 1": lambda: vector_rate(AGILERL, 1, duration)}


def rllib_wrapper_rate(duration: float) -> float:
    """World-steps/s of RLlib's ``ParallelPettingZooEnv`` stepped by hand (uniform policy)."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    env = ParallelPettingZooEnv(referential_v0.parallel_env(seed=0, **PAIR, **RLLIB))
    agents = env.par_env.possible_agents
    nvec, width = layout(RLLIB)
    pool = score_pool((len(agents),), width)
    state = {"k": 0}
    state["obs"], _ = env.reset(seed=0)

    def step() -> int:
        obs = state["obs"]
        masks = np.stack([obs[a]["action_mask"] for a in agents])
        actions = masked_choice(masks, pool[state["k"] % POOL], nvec)
        state["obs"], _, term, trunc, _ = env.step(dict(zip(agents, actions)))
        if term["__all__"] or trunc["__all__"]:
            state["obs"], _ = env.reset()
        state["k"] += 1
        return 1

    return rate(step, duration)


def rllib_runner(duration: float, random_actions: bool) -> float:
    """World-steps/s of a ``MultiAgentEnvRunner`` from the repo's PPO config."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.connectors.env_to_module import FlattenObservations
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    register_env("socius_referential", lambda config: ParallelPettingZooEnv(
        referential_v0.parallel_env(seed=config.get("seed", 0), **PAIR, **RLLIB)))
    config = (
        PPOConfig()
        .environment("socius_referential", env_config={"seed": 0})
        .env_runners(num_env_runners=0, rollout_fragment_length=200,
                     env_to_module_connector=lambda env, spaces, device:
                     FlattenObservations(multi_agent=True))
        .multi_agent(policies={"speaker", "listener"},
                     policy_mapping_fn=lambda agent, *args, **kwargs: agent.rsplit("_", 1)[0])
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={
            "speaker": RLModuleSpec(), "listener": RLModuleSpec()}))
        .debugging(seed=0)
    )
    runner = MultiAgentEnvRunner(config=config)

    def sample() -> int:
        episodes = runner.sample(num_timesteps=200, random_actions=random_actions)
        return sum(episode.env_steps() for episode in episodes)

    try:
        return rate(sample, duration, warmup=3)
    finally:
        runner.stop()


def rllib_cases(duration: float) -> dict:
    """RLlib's wrapper by hand, its env runner (random, PPO) and ``make_vector``."""
    return {"rllib ParallelPettingZooEnv": lambda: rllib_wrapper_rate(duration),
            "rllib env runner, random_actions": lambda: rllib_runner(duration, True),
            "rllib env runner, PPO modules": lambda: rllib_runner(duration, False),
            "make_vector, B = 1": lambda: vector_rate(RLLIB, 1, duration)}


SECTIONS = {"tianshou": ("tianshou", TIANSHOU, tianshou_cases),
            "agilerl": ("agilerl", AGILERL, agilerl_cases),
            "rllib": ("ray.rllib", RLLIB, rllib_cases)}


def interleaved(cases: dict, settings: dict, duration: float) -> dict[str, float]:
    """Each case between two facade runs; its ratio is to their geometric mean."""
    facades = [facade_rate(settings, duration)]
    row = {}
    for name, measure in cases.items():
        row[name] = measure()
        facades.append(facade_rate(settings, duration))
        row[f"ratio {name}"] = row[name] / float(np.sqrt(facades[-2] * facades[-1]))
    return {"facade, one world (median)": statistics.median(facades), **row}


def versions() -> dict[str, str]:
    """Python and the libraries measured."""
    found = {"python": platform.python_version()}
    for name in ("numpy", "torch", "pettingzoo", "gymnasium", "tianshou", "agilerl", "ray"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def available(module: str) -> bool:
    """Whether ``module`` imports (a missing library skips its section; ray without its
    rllib extra has ``ray.rllib`` but cannot import it)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def main(argv=None) -> dict[str, list[float]]:
    """Measure every importable library ``--repeats`` times; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if available("torch"):
        import torch

        torch.set_num_threads(1)
    runs: dict[str, list[float]] = {}
    for name, (module, settings, cases) in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        if not available(module):
            print(f"{name}: not installed here, skipped")
            continue
        for repeat in range(args.repeats):
            row = interleaved(cases(args.duration), settings, args.duration)
            for key, value in row.items():
                runs.setdefault(f"{name}: {key}", []).append(value)
            print(f"{name} repeat {repeat}: "
                  + ", ".join(f"{k} {v:,.3g}" for k, v in row.items()), flush=True)
    print(f"\nmedians of {args.repeats} repetitions, {args.duration:g} s each; ratio: to "
          "the facade runs either side (median of the per-repetition ratios)")
    print(f"  {'case':<58} {'world-steps/s':>13} {'ratio':>7}")
    for key, values in runs.items():
        if not key.split(": ", 1)[1].startswith("ratio "):
            name, case = key.split(": ", 1)
            ratio = runs.get(f"{name}: ratio {case}")
            shown = f"{statistics.median(ratio):>7.3f}" if ratio else f"{'1':>7}"
            print(f"  {key:<58} {statistics.median(values):>13,.0f} {shown}")
    print("versions:", versions())
    return runs


if __name__ == "__main__":
    main()
