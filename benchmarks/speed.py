"""Speed of socius beside its peers, in agent-steps per second.

Five comparisons (see BENCHMARKS.md for the results and how to reproduce them):

1. ``referential_v0`` (1 speaker + 1 listener) through the PettingZoo parallel
   API, one environment, beside MPE2 ``simple_speaker_listener_v4``.
2. ``referential_v0`` through the batched core, B=4096, beside VMAS
   ``simple_speaker_listener`` at B=4096 (plus, for the record, the core and
   the torch vector facade with resets included).
3. 100 agents per world: ``maze_v0`` open 32x32 (30x30 free cells), B=256,
   beside VMAS ``dispersion`` with 100 agents at B=256.
4. 1,000 agents in one open 64x64 ``maze_v0`` (B=1), beside MAgent2
   ``battle_v4``.
5. Scaling: nanoseconds per agent-step from N=2 to N=1000 agents per world,
   with B*N held at 1e5 and about 4 free cells per agent.

Rules, the same as ``peers.py``:

* random actions are pre-sampled outside the timer with a seeded
  ``numpy.random.Generator`` (never the global RNG) and cycled through;
* only ``step`` calls are timed, each on its own with ``time.perf_counter``;
  resets happen outside the timer, except in figures marked "resets included";
* every socius step builds the full default observation (it always does);
* agent-steps = environment steps x num_envs x agents stepped;
* within each repetition, each socius figure is measured right before its
  peer; a ratio is the median over repetitions of the per-repetition ratios.

Run: ``python benchmarks/speed.py`` (``--skip-peers`` prints socius figures
only; ``--profile`` also prints where the time goes for each missed target).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import io
import platform
import pstats
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import socius.envs as E
from socius.envs import core, referential_v0
from socius.envs.settings import configure

try:
    from socius.benchmarks import peers
except ImportError:  # run as a plain script from a checkout without the package
    import peers

SEED = 0
WARMUP_STEPS = 3
ACTION_POOL = 16  # pre-sampled action sets, cycled through while timing
LONG = 10**9  # max_cycles for "no episode ends while we time"


def timed_steps(step: Callable[[int], int], duration_seconds: float,
                before_step: Callable[[], None] = lambda: None, min_steps: int = 3) -> float:
    """Call ``step(k)`` (returns agents stepped) until ``duration_seconds`` of step time.

    ``before_step`` runs outside the timer (resets). Returns agent-steps per second.
    """
    for k in range(WARMUP_STEPS):
        before_step()
        step(k)
    timed, agent_steps, steps = 0.0, 0, 0
    wall_start = time.perf_counter()
    while steps < min_steps or (timed < duration_seconds
                                and time.perf_counter() - wall_start < 3 * duration_seconds):
        before_step()
        t0 = time.perf_counter()
        agent_steps += step(steps)
        timed += time.perf_counter() - t0
        steps += 1
    return agent_steps / timed


def make_world(name: str, **kwargs):
    """The static world of environment ``name`` with settings ``kwargs``."""
    module = E.ENVIRONMENTS[name]
    return module.build_world(configure(module.CONFIG, kwargs))


def action_pool(world, num_envs: int, seed: int) -> list[np.ndarray]:
    """Pre-sampled uniform int64 actions ``[B, N, 1 + L]`` (move, then tokens)."""
    rng = np.random.default_rng(seed)
    high = np.array([5] + [world.config.vocab_size] * world.config.message_length)
    return [(rng.random((num_envs, world.num_agents, len(high))) * high).astype(np.int64)
            for _ in range(ACTION_POOL)]


# ---------------------------------------------------------- socius: PettingZoo


def socius_parallel_referential(duration_seconds: float, seed: int = SEED) -> float:
    """``referential_v0`` defaults through the PettingZoo parallel API (B=1)."""
    env = referential_v0.parallel_env()
    env.reset(seed=seed)
    agents = list(env.possible_agents)
    high = env.action_space(agents[0]).nvec
    rng = np.random.default_rng(seed)
    pool = [{a: (rng.random(len(high)) * high).astype(np.int64) for a in agents}
            for _ in range(256)]

    def reset_if_over():
        if not env.agents:  # the episode ended: reset outside the timer
            env.reset()

    def step(k):
        env.step(pool[k % len(pool)])
        return len(agents)

    return timed_steps(step, duration_seconds, before_step=reset_if_over, min_steps=10)


# ------------------------------------------------------ socius: batched core


def socius_core(name: str, num_envs: int, duration_seconds: float, seed: int = SEED,
                auto_reset: bool = False, **kwargs) -> float:
    """The pure batched core, ``num_envs`` worlds of ``name``.

    ``auto_reset=False`` (resets excluded): an environment that ends stays frozen
    (its step still builds its full observation) until every environment has
    ended, then all are reset together outside the timer. ``auto_reset=True``
    (resets included): ended environments are reset inside ``step``.
    """
    world = make_world(name, **kwargs)
    pool = action_pool(world, num_envs, seed)
    box = {"episode": 0}
    box["state"], _ = core.reset(world, seed, num_envs)
    ended = np.zeros(num_envs, dtype=bool)

    def reset_if_all_ended():
        if ended.all():
            box["episode"] += 1
            box["state"], _ = core.reset(world, seed, num_envs, episode=box["episode"])
            ended[:] = False

    def step(k):
        box["state"], result = core.step(world, box["state"], pool[k % ACTION_POOL],
                                         auto_reset=auto_reset)
        if not auto_reset:
            ended[:] |= result.terminated | result.truncated
        return num_envs * world.num_agents

    return timed_steps(step, duration_seconds, before_step=reset_if_all_ended)


# ------------------------------------------------------ socius: vector facade


def socius_vector(name: str, num_envs: int, duration_seconds: float, seed: int = SEED,
                  **kwargs) -> float:
    """The torch vector facade ``make_vector`` with auto-reset (resets included)."""
    venv = E.make_vector(name, num_envs, seed=seed, **kwargs)
    venv.reset()
    rng = np.random.default_rng(seed)
    pool = [venv.sample_actions(rng) for _ in range(ACTION_POOL)]

    def step(k):
        venv.step(pool[k % ACTION_POOL])
        return num_envs * venv.num_agents

    return timed_steps(step, duration_seconds)


# ---------------------------------------------------------------- the cases


@dataclass
class Case:
    """One socius figure, its peer (if any) and the target ratio."""

    label: str
    socius: Callable[[float], float]
    peer_label: str = ""
    peer: Callable[[float], float] | None = None
    peer_module: str = ""
    target: float | None = None  # socius / peer must be >= target
    runs: list = field(default_factory=list)
    peer_runs: list = field(default_factory=list)


MAZE_OPEN = dict(layout="open", max_cycles=LONG)
# Scaling: B*N = 1e5 and about 4 free cells per agent ((size - 2)^2 ~ 4N).
SCALING = [(2, 50_000, 5), (10, 10_000, 8), (100, 1_000, 22), (1000, 100, 65)]


def build_cases() -> list[Case]:
    """The five comparisons, in the order BENCHMARKS.md reports them."""
    cases = [
        Case("1. referential_v0 PettingZoo parallel, B=1",
             lambda d: socius_parallel_referential(d),
             "MPE2 simple_speaker_listener_v4",
             lambda d: peers.mpe2_speaker_listener(duration_seconds=d),
             "mpe2.simple_speaker_listener_v4", target=2.0),
        Case("2. referential_v0 core, B=4096, resets excluded",
             lambda d: socius_core("referential_v0", 4096, d),
             "VMAS simple_speaker_listener B=4096",
             lambda d: peers.vmas_speaker_listener(num_envs=4096, duration_seconds=d),
             "vmas", target=1.0),
        Case("2b. referential_v0 core, B=4096, resets included",
             lambda d: socius_core("referential_v0", 4096, d, auto_reset=True)),
        Case("2c. referential_v0 make_vector (torch), B=4096, resets included",
             lambda d: socius_vector("referential_v0", 4096, d)),
        Case("3. maze_v0 open 32x32, N=100, B=256",
             lambda d: socius_core("maze_v0", 256, d, num_agents=100, size=32, **MAZE_OPEN),
             "VMAS dispersion n=100 B=256",
             lambda d: peers.vmas_dispersion(num_envs=256, n_agents=100, duration_seconds=d),
             "vmas", target=10.0),
        Case("4. maze_v0 open 64x64, N=1000, B=1",
             lambda d: socius_core("maze_v0", 1, d, num_agents=1000, size=64, **MAZE_OPEN),
             "MAgent2 battle_v4 (45x45, 162 agents)",
             lambda d: peers.magent2_battle(duration_seconds=d),
             "magent2.environments.battle_v4", target=1.0),
    ]
    for n, b, size in SCALING:
        cases.append(Case(
            f"5. scaling: maze_v0 open {size}x{size}, N={n}, B={b}",
            lambda d, n=n, b=b, size=size: socius_core("maze_v0", b, d, num_agents=n,
                                                       size=size, **MAZE_OPEN)))
    return cases


# --------------------------------------------------------------- reporting


def versions() -> dict:
    """Python, numpy, torch, pettingzoo, socius commit and the peers' versions."""
    found = {"python": platform.python_version()}
    for name in ("numpy", "torch", "pettingzoo"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=repo).returncode != 0
        found["socius"] = commit + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        found["socius"] = "unknown commit"
    for name in ("mpe2", "vmas", "magent2"):
        found[name] = peers.peer_versions()[name]
    return found


def ratio_of(case: Case) -> float | None:
    """Median over repetitions of socius / peer (each pair measured back to back)."""
    pairs = [s / p for s, p in zip(case.runs, case.peer_runs) if p > 0]
    return statistics.median(pairs) if pairs else None


def print_table(cases: list[Case]) -> None:
    """Print the medians, ratios and targets as a table."""
    head = (f"{'case':<62} {'socius':>11} {'peer':<38} {'peer':>11} "
            f"{'ratio':>7} {'target':>7}  met")
    print(head)
    print("-" * len(head))
    for case in cases:
        ours = f"{statistics.median(case.runs):,.0f}" if case.runs else "failed"
        theirs = f"{statistics.median(case.peer_runs):,.0f}" if case.peer_runs else "-"
        ratio = ratio_of(case)
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "-"
        target_text = f">={case.target:g}x" if case.target is not None else "-"
        met = "-" if ratio is None or case.target is None else (
            "yes" if ratio >= case.target else "NO")
        print(f"{case.label:<62} {ours:>11} {case.peer_label:<38} {theirs:>11} "
              f"{ratio_text:>7} {target_text:>7}  {met}")
    scaling = [c for c in cases if c.label.startswith("5.") and c.runs]
    if scaling:
        ns = [1e9 / statistics.median(c.runs) for c in scaling]
        spread = max(ns) / min(ns)
        print()
        print("5. scaling, ns per agent-step: "
              + ", ".join(f"N={n}: {v:.0f}" for (n, _, _), v in zip(SCALING, ns))
              + f"; max/min = {spread:.2f} (target <= 3: {'yes' if spread <= 3 else 'NO'})")


def profile_case(case: Case, duration_seconds: float, top: int = 8) -> None:
    """Where a socius figure's time goes: cProfile, sorted by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(case.socius, duration_seconds)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    print(f"\n### profile: {case.label}\n" + out.getvalue().split("\n", 4)[-1].rstrip())


# --------------------------------------------------------------------- main


def main(argv=None) -> list[Case]:
    """Measure every case (alternating with its peer) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0,
                        help="seconds of timed step calls per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-peers", action="store_true",
                        help="measure socius only (peers need not be installed)")
    parser.add_argument("--profile", action="store_true",
                        help="after the table, profile the socius side of missed targets")
    args = parser.parse_args(argv)

    cases = build_cases()
    available = {
        case.label: (not args.skip_peers and case.peer is not None
                     and peers._optional_import(case.peer_module) is not None)
        for case in cases
    }
    for rep in range(args.repeats):
        for case in cases:
            # Socius, then its peer, back to back: a ratio comes from one repetition.
            rate = case.socius(args.duration)
            case.runs.append(rate)
            line = f"[rep {rep}] {case.label}: {rate:,.0f}"
            if available[case.label]:
                try:
                    peer_rate = case.peer(args.duration)
                except Exception as exc:  # report, keep measuring the others
                    print(f"[rep {rep}] {case.peer_label}: failed: {exc!r}", flush=True)
                    peer_rate = 0.0
                case.peer_runs.append(peer_rate)
                line += f"  | {case.peer_label}: {peer_rate:,.0f}"
            print(line + "  agent-steps/s", flush=True)

    print()
    print(f"median agent-steps/s over {args.repeats} repetitions, "
          f"{args.duration:g} s of timed steps each")
    print_table(cases)
    print()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    try:
        import torch
        print(f"torch threads: {torch.get_num_threads()} (socius's numpy core uses one)")
    except ImportError:
        pass

    if args.profile:
        for case in cases:
            ratio = ratio_of(case)
            if case.target is not None and ratio is not None and ratio < case.target:
                profile_case(case, args.duration)
    return cases


if __name__ == "__main__":
    main()
