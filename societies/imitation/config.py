"""The imitation experiment's config, and the arenas and learner it builds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from socius.agents.imitation import SocialLearner
from socius.agents.modules import ObservationSpec
from socius.agents.subgoal_cells import SubgoalSettings
from socius.envs import goal_cycle_v0, goal_cycle_v1, spaces
from socius.envs.config import require, require_counts
from socius.envs.goal_cycle_v1 import GoalCycleV1Config
from socius.envs.world import World

METHODS = ("ppo", "bc")
TASKS = {"goal_cycle_v1": goal_cycle_v1.build_world, "goal_cycle_v0": goal_cycle_v0.build_world}
"""The worlds a learner can train in, and their builders."""


@dataclass(frozen=True)
class ImitationConfig(SubgoalSettings):
    """One social-learning run: the world, the learner, the control and the budget; the
    learner's ``agent`` and its low level (``SubgoalSettings``,
    ``societies.imitation.subgoals``)."""

    PREVIOUS_DEFAULTS: ClassVar[dict] = {"task": "goal_cycle_v0"}
    """Settings a run made before the field existed trained with."""

    seed: int = 0
    """Seed of the worlds, the weights and every sample."""
    task: str = "goal_cycle_v1"
    """The world: ``goal_cycle_v1`` (alike tiles in a hidden cycle, after marlgrid) or
    ``goal_cycle_v0`` (numbered tiles: it can be won without watching anyone; kept for
    older runs)."""
    world: GoalCycleV1Config = field(default_factory=lambda: GoalCycleV1Config(
        num_agents=3, size=9, num_tiles=5, penalty=2.0, view_radius=2, max_cycles=100,
        resample_order=True, num_obstacles=0))
    """The training world's settings: the learner (agent_0) and ``num_agents - 1``
    scripted experts (num_agents=1 is the solo control); held-out layouts add
    ``heldout_obstacles`` walls."""
    threads: int = 1
    """Torch threads of the run (set when it starts, recorded in environment.jsonl):
    a fixed count gives the same metrics whatever OMP_NUM_THREADS says."""
    method: str = "ppo"
    """ppo (reward only, plus the auxiliary loss) or bc (clone the expert in the seat)."""
    aux_weight: float = 1.0
    """Weight of the loss predicting the next move of each agent in view (0: the control)."""
    expert_dropout: float = 0.0
    """Fraction of training environments that hold no experts."""
    env_steps: int = 1_000_000
    """Budget: environment steps of training (rounds x num_envs x max_cycles)."""
    num_envs: int = 64
    """Environments per round, one episode each."""
    penalty_warmup: float = 0.0
    """Fraction of the budget over which the training penalty grows from 0 to ``penalty``
    (a curriculum; evaluation always uses the full penalty)."""
    heldout_obstacles: int = 6
    """Walls scattered in the held-out layouts (training layouts have none)."""
    hidden: int = 128
    """Width of the learner's network."""
    reward_input: bool = False
    """The learner's memory also reads its previous reward (as meta-RL agents do)."""
    learning_rate: float = 5e-4
    """Adam step size."""
    epochs: int = 4
    """Passes over each round."""
    minibatches: int = 4
    """Minibatches per pass, split over the round's sequences (whole episodes, or their
    ``bptt``-step chunks)."""
    bptt: int = 0
    """Steps per truncated-backpropagation chunk (0: whole episodes). Each chunk starts
    from the memory state that the current weights reach there, recomputed every epoch."""
    clip: float = 0.2
    """PPO ratio clip."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    entropy: float = 0.01
    """Entropy bonus of the learner's moves."""
    value_weight: float = 0.5
    """Weight of the value loss."""
    eval_every: int = 100_000
    """Environment steps between evaluations (and checkpoints)."""
    eval_envs: int = 256
    """Evaluation episodes per setting."""
    eval_experts: int = 2
    """Experts beside the learner when it is evaluated with experts (every method)."""

    def __post_init__(self):
        require(self.method in METHODS, "method", f"one of {METHODS}", self.method)
        require(self.task in TASKS, "task", f"one of {tuple(TASKS)}", self.task)
        self.check_subgoals()
        require(self.agent == "flat" or self.method == "ppo", "agent",
                "'flat' with method=bc (it clones the expert's moves)", self.agent)
        require_counts(self, ("threads",
                              "env_steps", "num_envs", "epochs", "minibatches", "eval_every",
                              "eval_envs", "hidden"))
        self.world.check()
        require(self.eval_experts >= 1, "eval_experts", "an integer >= 1", self.eval_experts)
        require(self.num_envs % self.minibatches == 0, "num_envs",
                f"a multiple of minibatches ({self.minibatches})", self.num_envs)
        require(self.bptt >= 0 and (self.bptt == 0 or self.world.max_cycles % self.bptt == 0),
                "bptt", f"0 or a divisor of world.max_cycles ({self.world.max_cycles})",
                self.bptt)
        require(self.aux_weight >= 0, "aux_weight", "a number >= 0", self.aux_weight)
        require(0 <= self.expert_dropout < 1, "expert_dropout", "a fraction in [0, 1)",
                self.expert_dropout)
        require(self.experts > 0 or self.method == "ppo", "world.num_agents",
                "at least 2 with method=bc (it clones an expert)", self.world.num_agents)
        require(0 < self.learning_rate < 1, "learning_rate", "a number in (0, 1)",
                self.learning_rate)
        require(0 <= self.penalty_warmup <= 1, "penalty_warmup", "a fraction in [0, 1]",
                self.penalty_warmup)
        require(self.env_steps >= self.steps_per_round, "env_steps",
                f"at least one round ({self.steps_per_round} steps)", self.env_steps)

    @property
    def steps_per_round(self) -> int:
        """Environment steps of one round."""
        return self.num_envs * self.world.max_cycles

    @property
    def rounds(self) -> int:
        """Rounds in the budget."""
        return self.env_steps // self.steps_per_round

    @property
    def experts(self) -> int:
        """Scripted experts beside the learner in training."""
        return self.world.num_agents - 1

    def world_for(self, experts: int, heldout: bool = False) -> GoalCycleV1Config:
        """The world settings of an arena with ``experts`` beside the learner
        (checked: ``replace`` runs no checks of its own)."""
        world = dataclasses.replace(
            self.world, num_agents=1 + experts,
            num_obstacles=self.heldout_obstacles if heldout else self.world.num_obstacles)
        world.check()
        return world


def make_arenas(config: ImitationConfig, num_envs: int, heldout: bool = False,
                experts: int | None = None, dropout: float = 0.0) -> list[tuple[World, int]]:
    """The kinds of world that together hold ``num_envs`` worlds, as ``(world, count)``:
    a share ``dropout`` without experts, the rest with ``experts`` (the config's by
    default)."""
    experts = config.experts if experts is None else experts
    alone = int(round(num_envs * dropout)) if experts else num_envs
    sizes = [(experts, num_envs - alone), (0, alone)] if experts else [(0, num_envs)]
    return [(build_world(config, config.world_for(count_experts, heldout)), count)
            for count_experts, count in sizes if count]


def build_world(config: ImitationConfig, world: GoalCycleV1Config | None = None) -> World:
    """The static world of ``config.task`` with settings ``world`` (the config's own by
    default)."""
    return TASKS[config.task](config.world if world is None else world)


def learner_spec(config: ImitationConfig) -> ObservationSpec:
    """The learner's observation sizes (the same with and without experts)."""
    world, _ = make_arenas(config, 1)[0]
    return ObservationSpec.from_spaces(spaces.observation_space(world),
                                       spaces.action_space(world))


def make_learner(config: ImitationConfig, generator: torch.Generator) -> SocialLearner:
    """A fresh recurrent learner."""
    return SocialLearner(learner_spec(config), config.hidden,
                         reward_input=config.reward_input, cell_head=config.agent != "flat",
                         generator=generator)


