"""Memory in the t-maze, top to bottom: recurrent behaviour cloning against its control.

    socius run memory --set seed=0

1. A BFS expert (which reads the hidden goal) walks the ``t_maze``; its cue is
   visible only on the first step.
2. Two copies of the same network are cloned from those episodes: one with GRU
   memory, one without (the control).
3. Both act greedily from observations alone on fresh episodes. Only the one
   that remembers the cue can beat a coin flip at the end of the bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from socius.agents.modules import AgentNetwork, ObservationSpec
from socius.agents.policy import NetworkPolicy
from socius.agents.scripted import GoalSeeker
from socius.envs.maze_v0 import MazeConfig, build_world
from socius.envs.vector import VectorEnv
from socius.societies.engine.rollout import record_episodes
from socius.societies.runs.directory import RunDirectory, open_run
from socius.societies.runs.experiment import Experiment
from socius.societies.runs.figures import save_figure
from socius.societies.viewer.cast import Cast
from socius.viz.plots import training_curves


@dataclass(frozen=True)
class MemoryRunConfig:
    """One t-maze memory experiment."""

    world: MazeConfig = field(default_factory=lambda: MazeConfig(layout="t_maze", size=6))
    """The maze_v0 world: a t-maze whose ``size`` is the length of its stem."""
    episodes: int = 256
    """Expert episodes to clone."""
    steps: int = 800
    """Gradient steps of behaviour cloning."""
    eval_episodes: int = 200
    """Fresh episodes per evaluation."""
    hidden: int = 128
    """Network width."""
    learning_rate: float = 1e-2
    """Adam step size of the cloning."""
    seed: int = 0
    """Seed of data, weights and evaluation."""
    threads: int = 1
    """Torch threads of the run (set when it starts, recorded in environment.jsonl):
    a fixed count gives the same metrics whatever OMP_NUM_THREADS says."""


def expert_episodes(config: MemoryRunConfig):
    """Expert episodes in the t-maze."""
    venv = VectorEnv(build_world(config.world), 32, seed=config.seed)
    steps = config.episodes * (config.world.size + 4) // 32 + 1
    return record_episodes(venv, GoalSeeker(), np.random.default_rng(config.seed), steps,
                   num_episodes=config.episodes), venv


def stack_episodes(episodes) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Pad episodes to ``[T, E, 1, ...]`` observations, moves ``[T, E, 1]`` and a valid mask."""
    longest = max(e.length for e in episodes)
    observation = {}
    for key in episodes[0].observations:
        padded = [np.concatenate([e.observations[key][:-1],
                                  np.repeat(e.observations[key][-2:-1], longest - e.length, 0)])
                  for e in episodes]
        observation[key] = torch.as_tensor(np.stack(padded, axis=1))
    moves = np.stack([np.pad(e.actions[:, :, 0], ((0, longest - e.length), (0, 0)))
                      for e in episodes], axis=1)
    valid = np.stack([np.arange(longest) < e.length for e in episodes], axis=1)[..., None]
    return observation, torch.as_tensor(moves), torch.as_tensor(valid)


def make_network(config: MemoryRunConfig, venv: VectorEnv, memory: bool) -> AgentNetwork:
    """A fresh network with or without memory (the same initial weights otherwise)."""
    spec = ObservationSpec.from_spaces(venv.single_observation_space, venv.single_action_space)
    generator = torch.Generator().manual_seed(config.seed)
    return AgentNetwork(spec, hidden=config.hidden, inbox=False, others=False, goal=False,
                        memory=memory, generator=generator)


def clone(config: MemoryRunConfig, episodes, network: AgentNetwork) -> AgentNetwork:
    """Behaviour-clone the expert's moves into ``network``."""
    observation, moves, valid = stack_episodes(episodes)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    for _ in range(config.steps):
        state = network.initial_state(moves.shape[1:])
        outputs, _ = network.forward_sequence(observation, state)
        loss = nn.functional.cross_entropy(outputs["move_logits"][valid], moves[valid])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return network


def success_rate(network: AgentNetwork, config: MemoryRunConfig) -> float:
    """Greedy success on fresh t-maze episodes (one per environment), played through the
    engine's rollout."""
    venv = VectorEnv(build_world(config.world), config.eval_episodes, seed=10_000 + config.seed,
                     auto_reset=False)
    policy = NetworkPolicy(network, venv.num_agents, greedy=True)
    # Every episode ends within max_cycles steps.
    episodes = record_episodes(venv, policy, np.random.default_rng(config.seed),
                               venv.world.config.max_cycles)
    if len(episodes) != config.eval_episodes:
        raise RuntimeError(f"expected {config.eval_episodes} episodes, got {len(episodes)}")
    return float(np.mean([bool((episode.rewards[:, 0] > 0).any()) for episode in episodes]))


def train(config: MemoryRunConfig, out: str | Path | None = None,
          progress: bool = True) -> list[dict]:
    """Clone the recurrent network and its memoryless control, then evaluate both; returns
    the metric row. With ``out``, each clone is checkpointed as it finishes and a killed
    run continues with the clone it had not finished."""
    run = open_run(out, config, "memory")
    checkpoint = (run.load_checkpoint() if run is not None else None) or {"progress": 0}
    if run is not None and run.rows():
        return run.rows()
    episodes, venv = expert_episodes(config)
    success = {}
    for index, (name, memory) in enumerate(tqdm(MODELS.items(), disable=not progress,
                                                desc="memory")):
        network = make_network(config, venv, memory)
        if checkpoint["progress"] > index:
            network.load_state_dict(checkpoint[name])
        else:
            clone(config, episodes, network)
            checkpoint = {**checkpoint, "progress": index + 1, name: network.state_dict()}
            if run is not None:
                run.save_checkpoint(checkpoint)
        success[name] = success_rate(network, config)
    row = {"steps": config.steps, **success}
    if run is not None:
        run.append(row)
    return [row]


MODELS = {"memory": True, "no_memory": False}
"""The two clones: the network with GRU memory, and the same network without it."""


def load_networks(run_dir: str | Path) -> tuple[MemoryRunConfig, dict[str, AgentNetwork]]:
    """The config and both cloned networks of a finished run."""
    config = EXPERIMENT.config_of(run_dir)
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    if checkpoint["progress"] < len(MODELS):
        raise ValueError(f"{run_dir}: the run has cloned {checkpoint['progress']} of "
                         f"{len(MODELS)} networks; resume it first")
    venv = VectorEnv(build_world(config.world), 1, seed=config.seed)
    networks = {}
    for name, memory in MODELS.items():
        networks[name] = make_network(config, venv, memory)
        networks[name].load_state_dict(checkpoint[name])
    return config, networks


def evaluate_run(run_dir: str | Path) -> dict:
    """Greedy success of both clones on fresh t-mazes."""
    config, networks = load_networks(run_dir)
    return {name: success_rate(network, config) for name, network in networks.items()}


def plot(run_dir: str | Path) -> dict:
    """Success of the clone with memory and without it (``curves.png``)."""
    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    target = Path(run_dir) / "curves.png"
    save_figure(training_curves(rows, "steps", {"success in the t-maze": list(MODELS)},
                                "memory: recurrent clone vs no memory",
                                reference={"no_memory": 0.5}), target)
    return {"plot": str(target)}


def load_policy(run_dir: str | Path) -> Cast:
    """The run's t-maze walked greedily by the clone with memory."""
    config, networks = load_networks(run_dir)
    world = build_world(config.world)
    return Cast("maze_v0", world, NetworkPolicy(networks["memory"], 1, greedy=True),
                str(run_dir))


EXPERIMENT = Experiment(
    name="memory", description="t-maze: recurrent behaviour cloning vs the same net without memory",
    config_class=MemoryRunConfig, default_config=None, train=train, evaluate=evaluate_run,
    plot=plot, progress_key="steps", summary_keys=tuple(MODELS),
    curves=("steps", {"memory": "memory", "no memory": "no_memory"}), final=tuple(MODELS),
    load_policy=load_policy)
"""The memory experiment's record in the registry."""
