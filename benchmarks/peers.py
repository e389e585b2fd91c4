"""Speed of peer multi-agent simulators, in agent-steps per second.

Peers measured:

* MPE2 ``simple_speaker_listener_v4`` (PettingZoo parallel API),
* VMAS ``simple_speaker_listener`` on CPU (num_envs = 1 and 4096),
* VMAS ``dispersion`` on CPU (num_envs = 256, n_agents = 100),
* MAgent2 ``battle_v4`` (parallel API, default 45x45 map, all agents stepping).

Rules common to every measurement:

* random actions are sampled before the timer starts, from a pool made with
  a seeded ``numpy.random.Generator`` or ``torch.Generator`` (never the global
  RNG); the pool is cycled through during the run;
* only ``step`` calls are timed: each call is timed on its own with
  ``time.perf_counter`` and the durations are summed, so resets (and building
  the per-step action dict from the pool) happen outside the timed region;
* each peer builds its full default observation inside ``step``, as it
  normally does;
* a few untimed warm-up steps run first;
* agent-steps = environment steps x agents stepped (x num_envs for VMAS).

Run: ``python benchmarks/peers.py`` (in a venv holding the peers; see
``peer_versions``). A peer that is not installed is reported as such.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import statistics
import time

import numpy as np

SEED = 0
WARMUP_STEPS = 5
ACTION_POOL = 256  # pre-sampled action sets, cycled through while timing


def _optional_import(module: str):
    """Import ``module``, or return None if it (or a dependency) is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _step_budget_done(timed: float, wall_start: float, duration_seconds: float,
                      steps: int, min_steps: int) -> bool:
    """Stop once enough step time is collected (or wall time runs far over)."""
    if steps < min_steps:
        return False
    if timed >= duration_seconds:
        return True
    return time.perf_counter() - wall_start >= 3 * duration_seconds


# --------------------------------------------------------------------- MPE2


def mpe2_speaker_listener(duration_seconds: float = 5.0, seed: int = SEED) -> float:
    """MPE2 simple_speaker_listener_v4, PettingZoo parallel API, default settings."""
    from mpe2 import simple_speaker_listener_v4

    env = simple_speaker_listener_v4.parallel_env()
    env.reset(seed=seed)
    agents = list(env.possible_agents)
    rng = np.random.default_rng(seed)
    # One column per agent, each within that agent's Discrete action space.
    pool = np.stack(
        [rng.integers(0, env.action_space(a).n, size=ACTION_POOL) for a in agents],
        axis=1,
    )
    action_dicts = [
        {a: int(row[i]) for i, a in enumerate(agents)} for row in pool
    ]

    for k in range(WARMUP_STEPS):
        env.step(action_dicts[k % ACTION_POOL])
        if not env.agents:
            env.reset()

    timed = 0.0
    agent_steps = 0
    steps = 0
    wall_start = time.perf_counter()
    while not _step_budget_done(timed, wall_start, duration_seconds, steps, 10):
        if not env.agents:  # episode over (max_cycles): reset outside the timer
            env.reset()
        actions = action_dicts[steps % ACTION_POOL]
        t0 = time.perf_counter()
        env.step(actions)
        timed += time.perf_counter() - t0
        agent_steps += len(actions)
        steps += 1
    env.close()
    return agent_steps / timed


# --------------------------------------------------------------------- VMAS


def _vmas_run(scenario: str, num_envs: int, duration_seconds: float, seed: int,
              min_steps: int = 3, **scenario_kwargs) -> float:
    """Time ``env.step`` of a VMAS scenario on CPU with discrete random actions."""
    import torch
    import vmas

    # Note: vmas seeds the global torch/numpy RNGs itself when given a seed;
    # our own action sampling uses a private torch.Generator.
    env = vmas.make_env(
        scenario,
        num_envs=num_envs,
        device="cpu",
        continuous_actions=False,
        seed=seed,
        **scenario_kwargs,
    )
    env.reset()
    n_agents = env.n_agents
    gen = torch.Generator().manual_seed(seed)
    big = num_envs * n_agents > 8192  # slow steps: smaller pool, less warm-up
    pool_size = 16 if big else ACTION_POOL
    pool = [
        [
            torch.randint(0, space.n, (num_envs,), generator=gen)
            for space in env.action_space
        ]
        for _ in range(pool_size)
    ]

    for k in range(2 if big else WARMUP_STEPS):
        env.step(pool[k % pool_size])

    timed = 0.0
    steps = 0
    wall_start = time.perf_counter()
    while not _step_budget_done(timed, wall_start, duration_seconds, steps, min_steps):
        actions = pool[steps % pool_size]
        t0 = time.perf_counter()
        _, _, dones, _ = env.step(actions)
        timed += time.perf_counter() - t0
        steps += 1
        # VMAS never auto-resets: reset finished sub-envs outside the timer.
        if dones.any():
            for i in torch.nonzero(dones).flatten().tolist():
                env.reset_at(i)
    return steps * n_agents * num_envs / timed


def vmas_speaker_listener(num_envs: int = 1, duration_seconds: float = 5.0,
                          seed: int = SEED) -> float:
    """VMAS simple_speaker_listener (2 agents) on CPU, batch of ``num_envs``."""
    return _vmas_run("simple_speaker_listener", num_envs, duration_seconds, seed)


def vmas_dispersion(num_envs: int = 256, n_agents: int = 100,
                    duration_seconds: float = 5.0, seed: int = SEED) -> float:
    """VMAS dispersion with ``n_agents`` agents (and as many food) on CPU."""
    return _vmas_run("dispersion", num_envs, duration_seconds, seed,
                     n_agents=n_agents)


# ------------------------------------------------------------------ MAgent2


def magent2_battle(duration_seconds: float = 5.0, seed: int = SEED) -> float:
    """MAgent2 battle_v4 parallel env, default map, every live agent acting."""
    from magent2.environments import battle_v4

    env = battle_v4.parallel_env(seed=seed)
    env.reset(seed=seed)
    agents = list(env.possible_agents)
    index = {a: i for i, a in enumerate(agents)}
    rng = np.random.default_rng(seed)
    n_actions = np.array([env.action_space(a).n for a in agents])
    # pool[k, i] is agent i's action in pre-sampled set k.
    pool = (rng.random((ACTION_POOL, len(agents))) * n_actions).astype(np.int64)

    def actions_for_live_agents(k: int) -> dict:
        row = pool[k % ACTION_POOL]
        return {a: int(row[index[a]]) for a in env.agents}

    for k in range(WARMUP_STEPS):
        env.step(actions_for_live_agents(k))
        if not env.agents:
            env.reset()

    timed = 0.0
    agent_steps = 0
    steps = 0
    wall_start = time.perf_counter()
    while not _step_budget_done(timed, wall_start, duration_seconds, steps, 10):
        if not env.agents:  # a team died or max_cycles hit: reset outside timer
            env.reset()
        actions = actions_for_live_agents(steps)  # built outside the timer
        t0 = time.perf_counter()
        env.step(actions)
        timed += time.perf_counter() - t0
        agent_steps += len(actions)
        steps += 1
    env.close()
    return agent_steps / timed


# --------------------------------------------------------------------- main


PEER_PACKAGES = ("mpe2", "vmas", "magent2", "pettingzoo", "numpy", "torch")


def peer_versions() -> dict:
    """Installed version of each peer package (or 'not installed')."""
    versions = {}
    for name in PEER_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# (label, package, module that must import, function, kwargs)
PEERS = [
    ("MPE2 simple_speaker_listener_v4", "mpe2", "mpe2.simple_speaker_listener_v4",
     mpe2_speaker_listener, {}),
    ("VMAS simple_speaker_listener B=1", "vmas", "vmas",
     vmas_speaker_listener, {"num_envs": 1}),
    ("VMAS simple_speaker_listener B=4096", "vmas", "vmas",
     vmas_speaker_listener, {"num_envs": 4096}),
    ("VMAS dispersion n=100 B=256", "vmas", "vmas",
     vmas_dispersion, {"num_envs": 256, "n_agents": 100}),
    ("MAgent2 battle_v4", "magent2", "magent2.environments.battle_v4",
     magent2_battle, {}),
]


def main(argv=None) -> dict:
    """Measure every peer a few times, alternating, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds of timed step calls per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    versions = peer_versions()
    available = {
        label: _optional_import(module) is not None
        for label, _, module, _, _ in PEERS
    }
    results = {label: [] for label, *_ in PEERS}
    # Alternate peers between repetitions, so machine noise spreads evenly.
    for rep in range(args.repeats):
        for label, _, _, func, kwargs in PEERS:
            if not available[label]:
                continue
            try:
                rate = func(duration_seconds=args.duration, **kwargs)
            except Exception as exc:  # report, keep measuring the others
                print(f"[rep {rep}] {label}: failed: {exc!r}", flush=True)
                continue
            results[label].append(rate)
            print(f"[rep {rep}] {label}: {rate:,.0f} agent-steps/s", flush=True)

    medians = {}
    print()
    print(f"{'peer':<38} {'median agent-steps/s':>21}  {'runs':<34} version")
    for label, package, *_ in PEERS:
        runs = results[label]
        if not available[label]:
            value, runs_text = "not installed", ""
        elif not runs:
            value, runs_text = "failed", ""
        else:
            medians[label] = statistics.median(runs)
            value = f"{medians[label]:,.0f}"
            runs_text = ", ".join(f"{r:,.0f}" for r in runs)
        print(f"{label:<38} {value:>21}  {runs_text:<34} "
              f"{package} {versions[package]}")
    print()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    try:
        import torch
        print(f"torch threads: {torch.get_num_threads()}")
    except ImportError:
        pass
    return medians


if __name__ == "__main__":
    main()
