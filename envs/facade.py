"""The PettingZoo facade: a thin ``ParallelEnv`` over the batched core with B = 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.utils import OrderEnforcingWrapper
from pettingzoo.utils.conversions import parallel_to_aec

from socius.envs import core, spaces
from socius.envs.render import Renderer
from socius.envs.settings import configure
from socius.envs.world import World


def fresh_seed() -> int:
    """A non-reproducible seed from the operating system, used only when none is given."""
    return int(np.random.SeedSequence().entropy % (2**62))


class LazyRendering:
    """A pygame renderer made on the first frame, closed by ``close`` and left out of pickles
    (SuperSuit cloudpickles envs; surfaces and fonts do not pickle)."""

    _renderer = None

    def _frame(self, world: World, state, last_actions):
        """Draw ``state`` in ``self.render_mode``."""
        if self._renderer is None:
            self._renderer = Renderer(world, mode=self.render_mode)
        return self._renderer.draw(state, 0, last_actions)

    def close(self):
        """Close the pygame window, if any."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_renderer"] = None
        return state


class SociusParallelEnv(LazyRendering, ParallelEnv):
    """A socius world as a PettingZoo ``ParallelEnv`` (one environment, no auto-reset)."""

    metadata = {"render_modes": ["human", "rgb_array"], "is_parallelizable": True,
                "render_fps": 8}

    def __init__(self, world: World, render_mode: str | None = None, seed: int | None = None):
        if render_mode not in (None, "human", "rgb_array"):
            raise ValueError(
                f"render_mode must be None, 'human' or 'rgb_array'; got {render_mode!r}")
        self.world = world
        self.render_mode = render_mode
        self.metadata = dict(self.metadata, name=world.name)
        self.possible_agents = list(world.agent_names)
        self.agents: list[str] = []
        self._index = {name: i for i, name in enumerate(world.agent_names)}
        self._observation_space = spaces.observation_space(world)
        self._action_space = spaces.action_space(world)
        self.observation_spaces = {a: self._observation_space for a in self.possible_agents}
        self.action_spaces = {a: self._action_space for a in self.possible_agents}
        self.state_space = spaces.state_space(world)
        self._seed = seed
        self._episode = -1
        self._core_state = None
        self._last_actions = None
        # A Dict of arrays (no flattening, no wrapping) is split key by key.
        config = world.config
        self._flat_dict = not config.flatten and config.mask_in != "wrapped"

    def observation_space(self, agent: str):
        """The shared observation space (the same object on every call)."""
        self._agent_index(agent)
        return self._observation_space

    def action_space(self, agent: str):
        """The shared MultiDiscrete action space (the same object on every call)."""
        self._agent_index(agent)
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; a new seed restarts the episode counter."""
        if seed is not None or self._seed is None:
            self._seed = fresh_seed() if seed is None else int(seed)
            self._episode = 0
        else:
            self._episode += 1
        state, observation = core.reset(self.world, self._seed, 1, episode=self._episode)
        self._core_state = state
        self.agents = list(self.possible_agents)
        self._last_actions = None
        achieved, desired = core.start_goals(self.world, state)
        outcomes = dict.fromkeys(self.world.task.info_keys, 0.0)
        infos = {a: {"goal_achieved": 0.0, "achieved_goal": achieved[0, i],
                     "desired_goal": desired[0, i], **outcomes}
                 for a, i in self._index.items()}
        if self.render_mode == "human":
            self.render()
        return self._split(observation, infos), infos

    def step(self, actions: dict[str, Any]):
        """Step with one action per live agent: ``[move, token_1, ..., token_L]``."""
        if not self.agents:
            raise ValueError("the episode has ended (or reset() was never called); "
                             "call reset() before step()")
        batch_actions = self._gather_actions(actions)
        state, result = core.step(self.world, self._core_state, batch_actions, auto_reset=False)
        self._core_state = state
        self._last_actions = batch_actions[0]
        # One tolist() per array instead of one float() per agent and key.
        rewards = dict(zip(self._index, result.reward[0].tolist()))
        terminated, truncated = bool(result.terminated[0]), bool(result.truncated[0])
        terminations = dict.fromkeys(self.agents, terminated)
        truncations = dict.fromkeys(self.agents, truncated)
        achieved, desired = result.achieved_goal[0], result.desired_goal[0]
        goal_achieved = result.goal_achieved[0].tolist()
        outcomes = {key: value[0].tolist() for key, value in result.info.items()}
        infos = {a: {"goal_achieved": goal_achieved[i], "achieved_goal": achieved[i],
                     "desired_goal": desired[i],
                     **{key: value[i] for key, value in outcomes.items()}}
                 for a, i in self._index.items()}
        observation = self._split(result.observation, infos)
        if terminated or truncated:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observation, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """The global state for centralised critics (see ``spaces.state_space``)."""
        if self._core_state is None:
            raise ValueError("state() needs reset() first")
        return global_state(self.world, self._core_state)[0]

    def render(self, mode: str | None = None):
        """Draw the world with pygame: an RGB array, or a window in 'human' mode."""
        # RLlib's ParallelPettingZooEnv calls render(its own render_mode), which is None;
        # None means "the mode given at construction", any other value must agree with it.
        if mode is not None and mode != self.render_mode:
            raise ValueError(f"render({mode!r}) disagrees with render_mode={self.render_mode!r}; "
                             "the mode is fixed when the env is made")
        if self.render_mode is None:
            return None
        if self._core_state is None:
            raise ValueError("render() needs reset() first")
        frame = self._frame(self.world, self._core_state, self._last_actions)
        return None if self.render_mode == "human" else frame

    def _agent_index(self, agent: str) -> int:
        try:
            return self._index[agent]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown agent {agent!r}; expected one of {self.possible_agents}") from None

    def _gather_actions(self, actions: dict[str, Any]) -> np.ndarray:
        width = 1 + self.world.config.message_length
        batch_actions = np.zeros((1, self.world.num_agents, width), dtype=np.int64)
        for agent in actions:
            self._agent_index(agent)
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"missing actions for agents {missing}; every live agent must act")
        joint = spaces.is_joint(self.world)
        for agent, action in actions.items():
            value = np.asarray(action)
            if value.dtype.kind not in "iu":
                raise TypeError(f"action of agent '{agent}' must be integers; got {value.dtype}")
            if joint:
                size = self._action_space.n
                if value.size != 1 or value.ndim > 1:
                    raise ValueError(f"action of agent '{agent}' must be one integer in "
                                     f"[0, {size}) (a Discrete action); got shape {value.shape}")
                if not 0 <= int(value.reshape(())) < size:
                    raise ValueError(f"action of agent '{agent}' must be an integer in "
                                     f"[0, {size}); got {int(value.reshape(()))}")
                value = spaces.decode_actions(self.world, value.reshape(()))
            elif value.shape != (width,):
                raise ValueError(f"action of agent '{agent}' must have shape ({width},) = "
                                 f"[move] + {width - 1} tokens; got {value.shape}")
            batch_actions[0, self._index[agent]] = value
        return batch_actions

    def _split(self, observation: dict[str, np.ndarray], infos: dict) -> dict[str, Any]:
        """Each agent's observation as the config presents it (the mask into ``infos`` with
        ``mask_in='info'``)."""
        shown, mask = spaces.present(self.world, observation)
        if self.world.config.mask_in == "info":
            for agent, i in self._index.items():
                infos[agent]["action_mask"] = spaces.info_mask(mask[0, i])
        if self._flat_dict:
            first = {key: value[0] for key, value in shown.items()}  # [N, ...] per key
            return {a: {key: value[i] for key, value in first.items()}
                    for a, i in self._index.items()}
        return {a: _row(shown, i) for a, i in self._index.items()}


def _row(shown: Any, agent: int) -> Any:
    """Agent ``agent``'s part of a presented batch ``[1, N, ...]`` (arrays or nested dicts)."""
    if isinstance(shown, dict):
        return {key: _row(value, agent) for key, value in shown.items()}
    return shown[0, agent]


def global_state(world: World, state) -> np.ndarray:
    """Flat int32 global state ``[B, F]``: the grid's planes, then each agent's record."""
    pad = world.pad
    grid = state.cells[:, :, pad:pad + world.height, pad:pad + world.width]
    batch = state.row.shape[0]
    per_agent = np.concatenate([state.row[..., None], state.col[..., None],
                                state.finished[..., None], state.goal], axis=-1)
    return np.concatenate([grid.reshape(batch, -1).astype(np.int32),
                           per_agent.reshape(batch, -1).astype(np.int32),
                           state.step_count[:, None]], axis=1).astype(np.int32)


def make_factories(name: str, config_class: type, build_world: Callable[[Any], World]):
    """The module-level ``parallel_env``, ``raw_env`` and ``env`` factories of a task."""

    def parallel_env(render_mode: str | None = None, seed: int | None = None,
                     **config: Any) -> SociusParallelEnv:
        """The raw PettingZoo ParallelEnv of this task."""
        world = build_world(configure(config_class, config))
        return SociusParallelEnv(world, render_mode=render_mode, seed=seed)

    def raw_env(render_mode: str | None = None, seed: int | None = None, **config: Any):
        """The AEC env (``parallel_to_aec``) without PettingZoo's order enforcing."""
        return parallel_to_aec(parallel_env(render_mode=render_mode, seed=seed, **config))

    def env(render_mode: str | None = None, seed: int | None = None, **config: Any):
        """The AEC env wrapped in PettingZoo's usual order-enforcing wrapper."""
        return OrderEnforcingWrapper(raw_env(render_mode=render_mode, seed=seed, **config))

    parallel_env.__qualname__ = f"{name}.parallel_env"
    return parallel_env, raw_env, env
