"""Scripted codes that bound ``referential_v0``: what a message naming both attributes,
one of them, or nothing wins, before any agent learns to talk.

:class:`ScriptedCode` plays speakers and listeners (the scripted-policy API of
:mod:`socius.agents.scripted`) from observations alone. The speaker names the target's
attributes, one token each; the listener picks, at random, one object in view that fits
what it heard and walks to it around the other objects. A code that names one attribute
leaves the other free, so with ``contrast`` rooms it picks the target half the time; the
mute code picks any object (chance, 1/K).
"""

from __future__ import annotations

import numpy as np

from socius.agents.scripted import _path_in_view, as_numpy
from socius.envs.state import COLOUR, FREE, SHAPE, TERRAIN
from socius.envs.world import World

CODES = {"compositional": (COLOUR, SHAPE), "colour": (COLOUR,), "shape": (SHAPE,), "mute": ()}
"""Each code and the view channels (attributes) its message names."""


class ScriptedCode:
    """One scripted code (a key of ``CODES``) for every speaker and listener of ``world``.

    Token j of the message is the value of the j-th named attribute (V must hold every
    value); the mute code sends nothing (any L). Listeners decide once, on their first move
    with the message in their inbox, and keep their choice for the episode.
    """

    def __init__(self, world: World, code: str):
        if code not in CODES:
            raise ValueError(f"code must be one of {sorted(CODES)}; got {code!r}")
        config = world.config
        named = CODES[code]
        largest = max(config.n_colours, config.n_shapes)
        if named and (config.message_length < len(named) or config.vocab_size < largest):
            raise ValueError(f"the {code} code needs message_length >= {len(named)} and "
                             f"vocab_size >= {largest}; got L={config.message_length}, "
                             f"V={config.vocab_size}")
        self.world, self.named = world, named

    def initial_state(self, batch: int) -> dict:
        """The cell each listener chose (-1: not chosen yet)."""
        return {"target": np.full((batch, self.world.num_agents, 2), -1, dtype=np.int64)}

    def act(self, observation, state, done, generator: np.random.Generator, privileged=None):
        """Speakers name the target; listeners choose an object that fits, then walk to it."""
        world, config = self.world, self.world.config
        obs = as_numpy(observation)
        batch = obs["goal"].shape[0]
        speaker = world.agent_role == 0
        action = np.zeros((batch, world.num_agents, 1 + config.message_length), dtype=np.int64)
        for slot, channel in enumerate(self.named):
            action[:, speaker, 1 + slot] = obs["goal"][:, speaker, channel - COLOUR]
        target = state["target"].copy()
        if done is not None:
            target[np.asarray(done, dtype=bool)] = -1
        listener = ~speaker
        view = obs["view"][:, listener].astype(np.int64)  # [B, G, 5, S, S]
        radius = config.view_radius
        heard = obs["inbox"][:, listener, 0].astype(np.int64) - 1  # [B, G, L]
        fits = view[:, :, COLOUR] > 0
        for slot, channel in enumerate(self.named):
            fits &= view[:, :, channel] - 1 == heard[..., slot, None, None]
        ready = obs["action_mask"][:, listener, 1:].any(axis=-1)  # listeners may move now
        if self.named:
            ready &= (heard[..., : len(self.named)] >= 0).all(axis=-1)
        position = obs["position"][:, listener].astype(np.int64)  # [B, G, 2]
        choose = ready & (target[:, listener, 0] < 0) & fits.reshape(*fits.shape[:2], -1).any(-1)
        score = np.where(fits, generator.random(fits.shape), -1.0).reshape(*fits.shape[:2], -1)
        row, col = np.divmod(score.argmax(axis=-1), fits.shape[-1])
        chosen = position + np.stack([row, col], axis=-1) - radius
        listener_target = np.where(choose[..., None], chosen, target[:, listener])
        target[:, listener] = listener_target
        side = fits.shape[-1]
        offset = listener_target - position + radius  # [B, G, 2] in the window
        inside = (listener_target[..., 0] >= 0) & (offset >= 0).all(-1) & (offset < side).all(-1)
        goal = np.zeros(fits.shape, dtype=bool)
        b, g = np.nonzero(inside)
        goal[b, g, offset[b, g, 0], offset[b, g, 1]] = True
        # Stepping on any object ends the episode, so the other objects count as walls.
        blocked = (view[:, :, TERRAIN] != FREE) | ((view[:, :, COLOUR] > 0) & ~goal)
        action[:, listener, 0] = _path_in_view(goal, blocked, radius)
        return action, {"target": target}
