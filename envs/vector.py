"""The vector facade: B environments as torch tensors ``[B, N, ...]``, with auto-reset.

torch is imported when a ``VectorEnv`` is made, not with this module: the worlds import
without it (it is the slowest import of the stack), and only training loops need tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from socius.envs import core, spaces
from socius.envs.facade import fresh_seed, global_state
from socius.envs.registry import ENVIRONMENTS
from socius.envs.settings import configure
from socius.envs.state import WorldState
from socius.envs.world import World

if TYPE_CHECKING:
    import torch


class VectorEnv:
    """Batched training interface: tensors in, tensors out, no per-agent dicts.

    Environments that finish are reset inside ``step``; the observation they
    ended on is in ``info['final_observation']`` (rows ``[D, N, ...]`` for the
    environments listed in ``info['final_index']``). With ``auto_reset=False``
    the batch stops at the end of its episodes instead, and ``reset()`` starts
    the next ones.
    """

    def __init__(self, world: World, num_envs: int, seed: int | None = None,
                 device: str | torch.device = "cpu", auto_reset: bool = True):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1; got {num_envs!r}")
        import torch

        self.world = world
        self.num_envs = num_envs
        self.num_agents = world.num_agents
        self.agent_names = world.agent_names
        self.device = torch.device(device)
        self.single_observation_space = spaces.observation_space(world)
        self.single_action_space = spaces.action_space(world)
        self.state_space = spaces.state_space(world)
        self.auto_reset = auto_reset
        self._seed = fresh_seed() if seed is None else int(seed)
        self._episode = -1
        self._ended = np.zeros(num_envs, dtype=bool)
        self.state: WorldState | None = None
        self.final_state: WorldState | None = None
        """After ``step``: the state ``[D]`` the environments in ``final_index`` ended in."""
        self.action_mask: torch.Tensor | None = None
        """With ``mask_in='info'``: the mask ``[B, N, M]`` of the latest observation (after
        ``reset``, ``place`` or ``step``), which the observation then leaves out."""

    def reset(self, seed: int | None = None) -> dict[str, torch.Tensor] | torch.Tensor:
        """Start every environment's next episode (episode 0 after a new seed)."""
        if seed is not None:
            self._seed = int(seed)
            self._episode = -1
        self._episode += 1
        self.state, observation = core.reset(self.world, self._seed, self.num_envs,
                                             episode=self._episode)
        self._ended[:] = False
        return self._tensors(observation)

    def place(self, row: np.ndarray, col: np.ndarray,
              goal: np.ndarray | None = None) -> dict[str, torch.Tensor] | torch.Tensor:
        """Put the agents of the running episodes at ``row, col [B, N]`` (and give them
        ``goal [B, N, G]``), e.g. chosen start/goal pairs; returns the new observation."""
        if self.state is None:
            raise ValueError("call reset() before place()")
        self.state = core.relocate(self.world, self.state, row, col, goal)
        return self._tensors(core.observe(self.world, self.state))

    def step(self, actions: torch.Tensor | np.ndarray):
        """Step with integer actions ``[B, N, 1 + L]`` (or joint indices ``[B, N]`` where the
        action space is Discrete): (observation, reward, terminated,
        truncated, info), with rewards ``[B, N]`` and episode flags ``[B]``."""
        if self.state is None:
            raise ValueError("call reset() before step()")
        if self._ended.any():
            raise ValueError(f"environments {np.flatnonzero(self._ended).tolist()} have ended "
                             "their episode (auto_reset=False); call reset() first")
        import torch

        if isinstance(actions, torch.Tensor):
            actions = actions.detach().cpu().numpy()
        if spaces.is_joint(self.world) and getattr(actions, "ndim", 0) == 2:
            actions = spaces.decode_checked(self.world, actions)
        self.state, result = core.step(self.world, self.state, actions,
                                       auto_reset=self.auto_reset)
        self.final_state = result.final_state
        if not self.auto_reset:
            self._ended = result.terminated | result.truncated
        info: dict[str, Any] = {
            "goal_achieved": self._tensor(result.goal_achieved),
            "achieved_goal": self._tensor(result.achieved_goal),
            "desired_goal": self._tensor(result.desired_goal),
            "message": self._tensor(result.message),
            "finished": self._tensor(result.finished),
            "final_index": self._tensor(result.final_index),
            **{key: self._tensor(value) for key, value in result.info.items()},
        }
        if result.final_observation is not None:
            info["final_observation"] = self._tensors(result.final_observation)
        observation = self._tensors(result.observation)  # last: it sets action_mask
        if self.action_mask is not None:
            info["action_mask"] = self.action_mask
        return (observation, self._tensor(result.reward), self._tensor(result.terminated),
                self._tensor(result.truncated), info)

    def global_state(self) -> torch.Tensor:
        """Global state ``[B, F]`` for centralised critics."""
        if self.state is None:
            raise ValueError("call reset() before global_state()")
        return self._tensor(global_state(self.world, self.state))

    def sample_actions(self, generator: np.random.Generator) -> torch.Tensor:
        """Uniformly random valid actions ``[B, N, 1 + L]`` drawn from ``generator``."""
        high = spaces.action_components(self.world)
        import torch

        draw = generator.random((self.num_envs, self.num_agents, len(high)))
        return torch.from_numpy((draw * high).astype(np.int64))

    def _tensors(self, observation: dict[str, np.ndarray]):
        """The observation as the config presents it, as tensors (nested dicts alike); the
        mask goes to ``action_mask`` where the config puts it in ``info``."""
        shown, mask = spaces.present(self.world, observation)
        if self.world.config.mask_in == "info":
            self.action_mask = self._tensor(mask)

        def convert(value):
            return ({key: convert(item) for key, item in value.items()}
                    if isinstance(value, dict) else self._tensor(value))

        return convert(shown)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return tensor if self.device.type == "cpu" else tensor.to(self.device)


def make_vector(name: str, num_envs: int, seed: int | None = None,
                device: str | torch.device = "cpu", auto_reset: bool = True,
                **task_kwargs: Any) -> VectorEnv:
    """A batched vector env of ``name`` (an ``ENVIRONMENTS`` key) with ``num_envs`` copies."""
    if name not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {name!r}; expected one of {sorted(ENVIRONMENTS)}")
    module = ENVIRONMENTS[name]
    world = module.build_world(configure(module.CONFIG, task_kwargs))
    return VectorEnv(world, num_envs, seed=seed, device=device, auto_reset=auto_reset)
