"""The language experiment's config: the world it plays in, the population, the channel
and PPO."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from socius.agents.subgoal_cells import SubgoalSettings
from socius.envs.config import require, require_counts
from socius.envs.referential_v0 import ReferentialConfig, build_world


@dataclass(frozen=True)
class LanguageConfig(SubgoalSettings):
    """One language run: the world, the population, the channel and PPO; the listener's
    ``agent`` and its low level (``SubgoalSettings``, ``societies.language.subgoals``)."""

    seed: int = 0
    """Seed of the worlds, the weights, the schedule and the samples."""
    world: ReferentialConfig = field(default_factory=lambda: ReferentialConfig(
        num_agents=2, room_size=5, view_radius=4, num_objects=3, vocab_size=8,
        message_length=2, max_cycles=11, held_out=((0, 1), (1, 3), (2, 0), (3, 2)),
        split="train"))
    """The referential_v0 world: one speaker-listener pair (num_agents=2) in a room the
    listener sees whole (view_radius >= room_size - 1); ``split`` is the training split
    (``test`` serves the held-out evaluation); message_length=0 is the mute control."""
    threads: int = 1
    """Torch threads of the run (set when it starts, recorded in environment.jsonl):
    a fixed count gives the same metrics whatever OMP_NUM_THREADS says."""
    rounds: int = 1000
    """Rounds: each steps every world ``rollout_steps`` times, then runs PPO on them."""
    num_envs: int = 256
    """Worlds (speaker-listener pairs) stepped together; each resets itself the step its
    episode ends."""
    rollout_steps: int = 10
    """Steps of every world per round (an episode may run on into the next round)."""
    channel: str = "gumbel"
    """How messages are learned: gumbel (differentiable, DIAL-style) or rl (policy gradient)."""
    population: int = 4
    """Speakers, and as many listeners; each new episode draws its pair at random."""
    replace_every: int = 0
    """Rounds between replacing the oldest speaker and listener by fresh ones (0: never)."""
    hidden: int = 64
    """Width of every network."""
    view_channels: int = 16
    """Channels of the listener's per-cell view layers (which also see the message)."""
    learning_rate: float = 1e-3
    """Adam step size."""
    epochs: int = 2
    """PPO passes over a round."""
    minibatches: int = 8
    """Minibatches per pass, split over worlds (each minibatch holds all of its worlds'
    steps of the round, and a share of the speaker decisions that ended in it)."""
    clip: float = 0.2
    """PPO ratio clip."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    move_entropy: float = 0.03
    """Entropy bonus of the listener's moves."""
    token_entropy: float = 0.01
    """Entropy bonus of the speaker's tokens (rl channel only)."""
    value_weight: float = 0.5
    """Weight of the value loss."""
    critic: str = "independent"
    """Value baseline: central (one critic per listener seat reading what ``state()`` holds:
    the room and the target) or independent (each agent's own value head)."""
    signalling_weight: float = 0.1
    """Weight of the positive-signalling bias (after Eccles et al. 2019): each speaker
    maximises I(message; goal) = H(mean message distribution) - mean H(message | goal) over
    the training goals (whole messages: tokens are drawn independently given the goal)."""
    signalling_scope: str = "population"
    """Whose messages the bias reads: each ``member`` on its own, or the ``population``'s
    mixture (a speaker drawn at random, as a randomly paired listener meets them), which
    also penalises a message that names different goals for different speakers
    (centralised training, like the central critic; it does not say which message to use)."""
    temperature: float = 1.0
    """Gumbel-Softmax temperature (gumbel channel)."""
    token_scale: float = 3.0
    """Initial size of the speaker's token logits (std of the head weights x sqrt(hidden))."""
    eval_every: int = 50
    """Rounds between evaluations (and checkpoints)."""
    eval_envs: int = 512
    """Evaluation episodes per split."""

    def __post_init__(self):
        require(self.channel in ("gumbel", "rl"), "channel", "'gumbel' or 'rl'", self.channel)
        require(self.signalling_scope in ("member", "population"), "signalling_scope",
                "'member' or 'population'", self.signalling_scope)
        require(self.critic in ("central", "independent"), "critic",
                "'central' or 'independent'", self.critic)
        self.check_subgoals()
        require_counts(self, ("threads", "rounds", "num_envs", "rollout_steps", "population",
                              "epochs", "minibatches", "eval_every", "eval_envs", "hidden"))
        require(self.num_envs % self.minibatches == 0, "num_envs",
                f"a multiple of minibatches ({self.minibatches})", self.num_envs)
        self.world.check()
        if self.world.held_out:  # the held-out evaluation's world must be valid too
            dataclasses.replace(self.world, split="test").check()
        require(self.world.num_agents == 2, "world.num_agents",
                "2 (one speaker-listener pair per environment)", self.world.num_agents)
        require(self.world.view_radius >= self.world.room_size - 1, "world.view_radius",
                f"at least world.room_size - 1 = {self.world.room_size - 1} (the listener "
                "sees the whole room)", self.world.view_radius)
        require(self.world.split in ("train", "all"), "world.split",
                "'train' or 'all' (the held-out split is for evaluation)", self.world.split)
        require(self.replace_every >= 0, "replace_every", "an integer >= 0", self.replace_every)
        require(0 < self.learning_rate < 1, "learning_rate", "a number in (0, 1)",
                self.learning_rate)
        require(self.temperature > 0, "temperature", "a number > 0", self.temperature)
        require(self.signalling_weight == 0
                or self.world.vocab_size ** self.world.message_length <= 65536,
                "signalling_weight", "0 when there are over 65,536 possible messages "
                "(the bias sums over every message)", self.signalling_weight)


def make_world(config: LanguageConfig, split: str):
    """The referential world of a run, for ``split``."""
    return build_world(dataclasses.replace(config.world, split=split))
