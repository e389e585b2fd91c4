"""Frozen configurations shared by every world, with checks that name the bad field."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any

from socius.envs.moves import NUM_MOVES


@dataclass(frozen=True)
class WorldConfig:
    """Settings every task shares; tasks extend it with their own fields."""

    num_agents: int = 2
    """Total number of agents in each environment."""
    max_cycles: int = 50
    """Steps after which an episode is truncated."""
    view_radius: int = 2
    """Radius r of the egocentric (2r+1)x(2r+1) view window; -1 is never valid."""
    vocab_size: int = 8
    """Number of distinct message tokens V."""
    message_length: int = 1
    """Tokens L an agent says per step; 0 is a mute channel."""
    hearing_radius: int = -1
    """Chebyshev radius within which agents in view are heard; -1 hears one's own group."""
    max_others: int = 4
    """How many visible agents are reported in the `others` observation."""
    token_drop_prob: float = 0.0
    """Probability that each spoken token is lost (heard as silence)."""
    token_replace_prob: float = 0.0
    """Probability that each spoken token is replaced by a uniformly random token."""
    n_colours: int = 4
    """Number of object colours."""
    n_shapes: int = 4
    """Number of object shapes."""
    flatten: bool = False
    """Give a flat Box observation instead of the Dict."""
    flat_dtype: str = "int32"
    """dtype of the flat Box: int32, or float32 (TorchRL's and BenchMARL's networks need
    floats)."""
    joint_actions: bool = False
    """One Discrete action over (move, tokens), 5 V^L of them, instead of MultiDiscrete
    [move, token, ...] (Tianshou's DQN, BenchMARL and AgileRL want Discrete); a mute world is
    Discrete(5) either way."""
    action_mask: str = "moves"
    """What the mask covers: 'moves' (5; tokens are always allowed), 'components' (5 + L V:
    each part's mask end to end) or 'full' (5 V^L, one per joint action)."""
    mask_in: str = "observation"
    """Where the mask goes: 'observation' (the Dict's action_mask, the flat Box's tail),
    'info' (infos[agent]['action_mask'], AgileRL) or 'wrapped' ({'observation',
    'action_mask'}, Tianshou)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Unused; reserved so YAML overrides can carry notes without failing."""

    def check(self) -> None:
        """Raise ValueError naming the first impossible field."""
        require(1 <= self.num_agents <= 32767, "num_agents",
                 "an integer in [1, 32767] (agent indices are stored as int16)", self.num_agents)
        require(self.max_cycles >= 1, "max_cycles", "an integer >= 1", self.max_cycles)
        require(self.view_radius >= 0, "view_radius", "an integer >= 0", self.view_radius)
        require(self.message_length >= 0, "message_length", "an integer >= 0",
                 self.message_length)
        require(self.vocab_size >= 1 or self.message_length == 0, "vocab_size",
                 ">= 1 when message_length > 0 (use message_length=0 for a mute channel)",
                 self.vocab_size)
        require(self.vocab_size >= 0, "vocab_size", "an integer >= 0", self.vocab_size)
        require(self.hearing_radius >= -1, "hearing_radius",
                 "-1 (own group) or a radius >= 0", self.hearing_radius)
        require(self.hearing_radius <= self.view_radius, "hearing_radius",
                 f"at most view_radius={self.view_radius} (agents are heard through the view)",
                 self.hearing_radius)
        require(self.max_others >= 0, "max_others", "an integer >= 0", self.max_others)
        for name in ("token_drop_prob", "token_replace_prob"):
            value = getattr(self, name)
            require(0.0 <= value <= 1.0, name, "a probability in [0, 1]", value)
        require(self.token_drop_prob + self.token_replace_prob <= 1.0, "token_replace_prob",
                 "token_drop_prob + token_replace_prob <= 1", self.token_replace_prob)
        require(self.n_colours >= 1, "n_colours", "an integer >= 1", self.n_colours)
        require(self.n_shapes >= 1, "n_shapes", "an integer >= 1", self.n_shapes)
        require(self.flat_dtype in ("int32", "float32"), "flat_dtype", "'int32' or 'float32'",
                self.flat_dtype)
        require(self.action_mask in ("moves", "components", "full"), "action_mask",
                "'moves', 'components' or 'full'", self.action_mask)
        require(self.action_mask != "full"
                or NUM_MOVES * max(self.vocab_size, 1) ** self.message_length <= 2**16,
                "action_mask", "'moves' or 'components' when there are over 65,536 joint "
                "actions (a full mask of each agent would be that long every step)",
                self.action_mask)
        require(self.action_mask != "full" or self.joint_actions or self.message_length == 0,
                "action_mask", "'moves' or 'components' unless joint_actions=True ('full' "
                "covers the joint Discrete actions)", self.action_mask)
        require(self.mask_in in ("observation", "info", "wrapped"), "mask_in",
                "'observation', 'info' or 'wrapped'", self.mask_in)
        require(not self.joint_actions or self.message_length == 0
                or self.action_mask == "full", "action_mask",
                "'full' with joint_actions=True (one entry per joint action, as a Discrete "
                "space's mask is)", self.action_mask)


def require(ok: bool, name: str, expected: str, value: Any) -> None:
    """Raise ValueError('config field NAME must be EXPECTED; got VALUE') unless ok."""
    if not ok:
        raise ValueError(f"config field '{name}' must be {expected}; got {value!r}")


def require_counts(config: Any, names: tuple[str, ...], minimum: int = 1) -> None:
    """Raise ValueError naming the first of ``names`` that is not an integer >= ``minimum``."""
    for name in names:
        value = getattr(config, name)
        require(isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
                name, f"an integer >= {minimum}", value)


def describe(config_class: type) -> list[tuple[str, Any, str]]:
    """(name, default, one-line doc) for each field of a config class."""
    docs = _field_docs(config_class)
    rows = []
    for f in dataclasses.fields(config_class):
        if f.name == "extra":
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        rows.append((f.name, default, docs.get(f.name, "")))
    return rows


def _field_docs(config_class: type) -> dict[str, str]:
    """Read the string literal that follows each field in the class bodies (PEP 257 style)."""
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, following in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                    docs[node.target.id] = str(following.value.value).strip()
    return docs
