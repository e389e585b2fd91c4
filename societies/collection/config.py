"""The collection run's settings: :class:`CollectConfig` and the names of the collectors."""

from __future__ import annotations

from dataclasses import dataclass, field

from socius.agents.dynamics import DynamicsConfig
from socius.agents.subgoal_cells import SubgoalSettings
from socius.envs.config import require, require_counts
from socius.envs.maze_v0 import MazeConfig

COLLECTORS = ("disagreement", "curiosity", "random", "covering")
LEARNED = ("disagreement", "curiosity")


@dataclass(frozen=True)
class CollectConfig(SubgoalSettings):
    """One collection run: the world, the collector, its dynamics ensemble and the evaluation;
    the disagreement collector's ``agent`` (``flat``: Boltzmann moves over Q; ``hierarchical``
    or ``walker``: Boltzmann subgoal cells over their disagreement, walked to by a learned or
    a BFS low level) and its low level (``SubgoalSettings``)."""

    seed: int = 0
    """Seed of the episodes, the weights and every sample."""
    collector: str = "disagreement"
    """One of disagreement, curiosity, random, covering."""
    threads: int = 1
    """Torch threads of the run (set when it starts, recorded in environment.jsonl):
    a fixed count gives the same metrics whatever OMP_NUM_THREADS says."""
    steps: int = 100_000
    """Budget of environment steps, summed over the parallel environments."""
    num_envs: int = 4
    """Environments stepped in parallel (all on the same layout)."""
    world: MazeConfig = field(default_factory=lambda: MazeConfig(
        num_agents=1, max_cycles=100, view_radius=2, hearing_radius=0, message_length=0,
        layout="four_rooms", size=13, layout_seed=0, noisy_tv=True, start=(1, 1)))
    """The maze_v0 world, one fixed layout: ``num_agents`` collectors share one dataset,
    one ensemble and one policy; ``start`` is the fixed start cell (agent i starts at the
    i-th nearest free cell); ``noisy_tv`` adds a cell whose object changes at random every
    step; ``max_cycles`` steps make an episode (one per environment per chunk); the
    models predict the ``view_radius`` view."""
    members: int = 5
    """K dynamics models in the ensemble."""
    model_hidden: int = 128
    """Width of each dynamics model."""
    model_learning_rate: float = 1e-3
    """Adam step size of the dynamics models."""
    model_batch: int = 256
    """Transitions per dynamics gradient step."""
    model_steps: int = 4
    """Dynamics gradient steps every ``update_every`` steps."""
    update_every: int = 10
    """Steps of every environment between updates of the model and the collector."""
    gamma: float = 0.9
    """Discount of the intrinsic return."""
    sweeps: int = 60
    """Q-learning sweeps over the deduplicated replay after each chunk."""
    temperature: float = 1.0
    """Boltzmann temperature of the collector's moves, in units of normalised reward."""
    checkpoint_every: int = 20_000
    """Environment steps between checkpoints (and dataset saves)."""
    eval_model_steps: int = 3000
    """Gradient steps of the fresh model trained on the collected data."""
    eval_repeats: int = 4
    """Held-out samples of every (reachable cell, move) pair."""
    hier_steps: int = 5000
    """Gradient steps of the offline hierarchical agent trained on the data (0: skip)."""
    hier_pairs: int = 200
    """Held-out start/goal pairs of the hierarchical agent's evaluation."""
    hier_subgoal_steps: int = 5
    """k of the hierarchical agent."""
    skill_updates: int = 2
    """Low-level gradient steps (agent=hierarchical) at every learner update, i.e. every
    ``update_every`` steps of every environment."""

    def __post_init__(self):
        require(self.collector in COLLECTORS, "collector", f"one of {COLLECTORS}",
                self.collector)
        self.check_subgoals()
        require(self.agent == "flat" or self.collector == "disagreement", "agent",
                f"'flat' for the {self.collector} collector (subgoals are chosen by the "
                "ensemble's disagreement)", self.agent)
        self.world.check()
        require_counts(self, ("threads",
                              "steps", "num_envs", "members", "model_hidden", "model_batch",
                              "sweeps", "update_every", "checkpoint_every", "eval_repeats",
                              "hier_pairs", "hier_subgoal_steps"))
        require_counts(self, ("model_steps", "eval_model_steps", "hier_steps"), minimum=0)
        chunk = self.num_envs * self.world.max_cycles
        require(self.steps % chunk == 0, "steps",
                f"a multiple of num_envs * world.max_cycles = {chunk}", self.steps)
        require(self.checkpoint_every % chunk == 0, "checkpoint_every",
                f"a multiple of num_envs * world.max_cycles = {chunk}",
                self.checkpoint_every)
        require(self.world.layout in ("four_rooms", "maze", "open"), "world.layout",
                "four_rooms, maze or open (one fixed layout)", self.world.layout)
        require(self.world.num_layouts == 1, "world.num_layouts",
                "1 (the models learn one fixed layout)", self.world.num_layouts)
        require(len(self.world.start) == 2, "world.start", "a (row, col) pair",
                self.world.start)
        require(self.members >= 2 or self.collector != "disagreement", "members",
                "at least 2 for the disagreement collector", self.members)
        require(0 < self.model_learning_rate < 1, "model_learning_rate", "a number in (0, 1)",
                self.model_learning_rate)
        require(0 <= self.gamma < 1, "gamma", "a number in [0, 1)", self.gamma)
        require(self.temperature > 0, "temperature", "a number > 0", self.temperature)

    def dynamics(self) -> DynamicsConfig:
        """The ensemble's settings."""
        return DynamicsConfig(members=self.members, hidden=self.model_hidden,
                              learning_rate=self.model_learning_rate, batch_size=self.model_batch)
