"""Stable-Baselines3: every agent of ``n_copies`` worlds as one ``VecEnv``, stepped in one
core call (``socius[sb3]``).

SB3 sees ``n_copies * N`` environments, agent n of copy i at index ``i * N + n`` (the
layout SuperSuit's ``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1`` gives, so
agents share one policy). Copy i plays the episodes of a standalone env reset with
``seed + i``. An episode's end is reported for every agent of its copy, with SB3's
``terminal_observation`` and ``TimeLimit.truncated`` and the task's outcomes (e.g.
``success``, also as ``is_success``) in ``infos``; other steps' infos are empty, since
SB3 reads them only at episode ends. The mask of ``mask_in="info"`` is served by
``env_method("action_masks")`` as sb3-contrib's MaskablePPO asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from socius.envs import core, spaces
from socius.envs.facade import fresh_seed
from socius.envs.world import World


class NativeVecEnv(VecEnv):
    """``n_copies`` worlds of one task as an SB3 ``VecEnv`` over all their agents."""

    def __init__(self, world: World, n_copies: int, seed: int):
        self.world = world
        self.n_copies = n_copies
        self.render_mode = None
        self._seed = int(seed)
        self._pending_seed: int | None = self._seed
        self._state = None
        self._mask: np.ndarray | None = None
        self._actions: np.ndarray | None = None
        super().__init__(n_copies * world.num_agents, spaces.observation_space(world),
                         spaces.action_space(world))

    def seed(self, seed: int | None = None) -> list[int]:
        """Seed the next reset: copy i then starts episode 0 of ``seed + i``."""
        self._pending_seed = fresh_seed() if seed is None else int(seed)
        return [self._pending_seed + i for i in range(self.n_copies)]

    def reset(self):
        """Start every copy's next episode (episode 0 of ``seed + i`` after ``seed``)."""
        if self._pending_seed is not None or self._state is None:
            seed = self._seed if self._pending_seed is None else self._pending_seed
            self._seed, self._pending_seed, episode = seed, None, 0
        else:
            episode = int(self._state.episode.max()) + 1
        # Every copy is environment 0 of its own seed, as a standalone env is.
        self._state, observation = core.reset(
            self.world, self._seed + np.arange(self.n_copies), self.n_copies,
            env_index=np.zeros(self.n_copies, dtype=np.int64), episode=episode)
        return self._flat(observation)

    def step_async(self, actions: np.ndarray) -> None:
        """Keep the actions ``[n_copies * N, ...]`` for ``step_wait``."""
        self._actions = np.asarray(actions)

    def step_wait(self):
        """Step every copy once: (observations, rewards, dones, infos) over all agents."""
        if self._state is None:
            raise ValueError("call reset() before step()")
        if self._actions is None:
            raise ValueError("call step_async(actions) before step_wait()")
        actions, self._actions = self._actions, None
        agents = self.world.num_agents
        expected = (self.num_envs, *self.action_space.shape)
        if actions.shape != expected:
            raise ValueError(f"actions must have shape [n_copies * num_agents, ...] = "
                             f"{expected}; got {tuple(actions.shape)}")
        actions = actions.reshape(self.n_copies, agents, *self.action_space.shape)
        if spaces.is_joint(self.world):
            actions = spaces.decode_checked(self.world, actions)
        self._state, result = core.step(self.world, self._state,
                                        actions.astype(np.int64, copy=False), auto_reset=True)
        observation = self._flat(result.observation)
        rewards = result.reward.reshape(-1)
        done = result.terminated | result.truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if result.final_index.size:
            self._report_ends(infos, result)
        return observation, rewards, np.repeat(done, agents), infos

    def _report_ends(self, infos: list[dict[str, Any]], result) -> None:
        """Fill the infos of every agent of the copies that ended on this step."""
        agents = self.world.num_agents
        final, _ = spaces.present(self.world, result.final_observation)
        truncated = result.truncated & ~result.terminated
        outcomes = {"goal_achieved": result.goal_achieved, **result.info}
        for row, copy in enumerate(result.final_index.tolist()):
            for agent in range(agents):
                info = infos[copy * agents + agent]
                info["terminal_observation"] = _row(final, row, agent)
                info["TimeLimit.truncated"] = bool(truncated[copy])
                for key, value in outcomes.items():
                    info[key] = float(value[copy, agent])
                if "success" in outcomes:
                    info["is_success"] = bool(outcomes["success"][copy, agent])

    def _flat(self, observation: dict[str, np.ndarray]):
        """A core observation ``[B, N, ...]`` as SB3's ``[B * N, ...]`` (views, no copy);
        the mask of ``mask_in='info'`` is kept for ``action_masks``."""
        shown, self._mask = spaces.present(self.world, observation)
        count = self.num_envs
        if isinstance(shown, dict):
            return {key: value.reshape(count, *value.shape[2:]) for key, value in shown.items()}
        return shown.reshape(count, *shown.shape[2:])

    def action_masks(self) -> np.ndarray:
        """bool ``[n_copies * N, mask_size]``: the actions each agent may take now."""
        if self._mask is None:
            raise ValueError("call reset() before action_masks()")
        return self._mask.reshape(self.num_envs, -1).astype(bool)

    def close(self) -> None:
        """Nothing to release: the worlds are arrays in this process."""

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        """The attribute ``attr_name`` of this VecEnv, once per index (the copies share
        one world)."""
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        """Set ``attr_name`` on this VecEnv (shared by every index)."""
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        """Call a method once per index; ``action_masks`` gives each agent its own row."""
        rows = self._indices(indices)
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in rows]
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result] * len(rows)

    def env_is_wrapped(self, wrapper_class: type, indices=None) -> list[bool]:
        """No gymnasium wrappers stand between SB3 and the core."""
        return [False] * len(self._indices(indices))

    def _indices(self, indices) -> Sequence[int]:
        """SB3's ``indices`` (None, an int or a list) as a list."""
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else list(indices)


def _row(observation, row: int, agent: int):
    """One agent's observation out of a presented ``[D, N, ...]`` array or Dict."""
    if isinstance(observation, dict):
        return {key: value[row, agent] for key, value in observation.items()}
    return observation[row, agent]
