"""TorchRL: the vector core as one batched multi-agent ``EnvBase`` (``socius[torchrl]``).

VMAS's TorchRL wrapper is the model. One environment holds ``num_envs`` worlds stepped
in one core call, and its agents are grouped by role (``speaker``, ``listener``; a maze's
``agent``), each group with the standard multi-agent keys:

- ``(group, "observation")`` float32 ``[B, n, F]``: the task's default observation,
  flattened (every key, as ``flatten=True`` gives it), or with ``one_hot=True`` the same
  fields with their categorical codes one-hot (view cells, tokens, goal), as MLPs need;
- with ``spatial_view=True`` (and ``one_hot``), ``(group, "view")`` float32
  ``[B, n, S, S, C]``: the one-hot view with its spatial shape, as CNNs read it (BenchMARL's
  ``Cnn`` takes ``(X, Y, C)`` images), and ``(group, "observation")`` the other fields;
- ``(group, "action_mask")`` bool ``[B, n, A]``: which joint actions are allowed;
- ``(group, "action")``: one joint index per agent over (move, tokens), move most
  significant (``joint_actions=True``), so TorchRL's ``Categorical``/``MaskedCategorical``
  (or ``OneHot`` with ``categorical_actions=False``) handle it as it is;
- ``(group, "reward")`` float32 ``[B, n, 1]`` and ``(group, "info", key)`` float32
  ``[B, n]`` (``goal_achieved`` and the task's outcomes, e.g. ``success``);
- ``done``, ``terminated``, ``truncated`` bool ``[B, 1]`` at the root (every agent of a
  world ends together), and ``state`` float32 ``[B, S]`` with ``return_state=True``.

Worlds that end are restarted inside the core's step, so a collector's partial reset
(``_reset``) of exactly those worlds costs no second core call; ``next`` holds the
observation they ended on. Seeds follow the vector core: world i of episode e plays the
same episode as ``make_vector(..., seed)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, OneHot, Unbounded
from torchrl.envs import EnvBase

from socius.envs import core, spaces
from socius.envs.facade import fresh_seed, global_state
from socius.envs.onehot import OneHotEncoder
from socius.envs.settings import configure
from socius.envs.torchrl_parts import (
    as_slice,
    flat_columns,
    group_observation_spec,
    is_plain,
    kept_from_root,
    leaves,
    present_flat,
    present_step,
)
from socius.envs.world import World
from socius.envs.wrappers import task_module

LAYOUT = {"joint_actions": True, "action_mask": "full", "mask_in": "info",
          "flatten": True, "flat_dtype": "float32"}
"""World settings the adapter fixes: its keys and specs are laid out for them."""


class TorchRLEnv(EnvBase):
    """``num_envs`` worlds of one task as a batched TorchRL env, agents grouped by role."""

    def __init__(self, world: World, num_envs: int, seed: int | None = None,
                 device: str | torch.device = "cpu", categorical_actions: bool = True,
                 return_state: bool = False, one_hot: bool = False,
                 spatial_view: bool = False):
        if spatial_view and not one_hot:
            raise ValueError("spatial_view=True needs one_hot=True (the view's cells as "
                             "one-hot channels)")
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1; got {num_envs!r}")
        wrong = {key: getattr(world.config, key) for key, value in LAYOUT.items()
                 if getattr(world.config, key) != value}
        if wrong:
            raise ValueError(f"the TorchRL adapter needs the world settings {LAYOUT}; got "
                             f"{wrong} (make it with make_torchrl, which sets them)")
        super().__init__(device=device, batch_size=torch.Size([num_envs]))
        self.world = world
        self.num_envs = num_envs
        self.categorical_actions = categorical_actions
        self.return_state = return_state
        self.encoder = OneHotEncoder(world) if one_hot else None
        self.spatial_view = spatial_view
        self._members = {role: np.flatnonzero(world.agent_role == code)
                         for code, role in enumerate(world.role_names)}
        self.group_map = {role: [world.agent_names[i] for i in members]
                          for role, members in self._members.items()}
        self._slices = {group: as_slice(members) for group, members in self._members.items()}
        self._seed = fresh_seed() if seed is None else int(seed)
        self._episode = -1
        self._state = None
        self._restarted = np.zeros(num_envs, dtype=bool)
        self._current: tuple[np.ndarray, np.ndarray] | None = None
        self._decoded = spaces.decode_actions(world, np.arange(spaces.action_space(world).n))
        """Every joint action's (move, tokens), looked up instead of divided out."""
        self._columns: list[tuple[str, int, int]] | None = None  # flat layout, on first use
        self._covering = self._carry_keys = None  # see _covers_next
        self._info: dict[str, np.ndarray] = {}  # the last step's outcomes [B, N]
        self._make_specs()

    def _make_specs(self) -> None:
        """The observation, action, reward and done specs of every group."""
        batch = self.batch_size
        if self.encoder is None:
            box = spaces.observation_space(self.world)  # a flat Box: the mask goes to info
            bounds = box.low, box.high
        else:
            bounds = self.encoder.bounds
        low, high = (torch.as_tensor(bound, dtype=torch.float32) for bound in bounds)
        actions = int(spaces.action_space(self.world).n)
        self.info_keys = ("goal_achieved", *self.world.task.info_keys)
        observation, action, reward = {}, {}, {}
        for group, members in self._members.items():
            shape = torch.Size([*batch, len(members)])
            observation[group] = group_observation_spec(
                low, high, shape, actions, self.info_keys,
                self.encoder if self.spatial_view else None)
            kind = (Categorical(actions, shape=shape, dtype=torch.int64)
                    if self.categorical_actions else OneHot(actions, shape=(*shape, actions)))
            action[group] = Composite(action=kind, shape=shape)
            reward[group] = Composite(reward=Unbounded(shape=(*shape, 1)), shape=shape)
        if self.return_state:
            state_low, state_high = spaces.state_bounds(self.world)
            observation["state"] = Bounded(
                torch.as_tensor(state_low, dtype=torch.float32).expand(*batch, -1),
                torch.as_tensor(state_high, dtype=torch.float32).expand(*batch, -1),
                shape=(*batch, len(state_low)), dtype=torch.float32)
        self.observation_spec = Composite(observation, shape=batch)
        self.action_spec = Composite(action, shape=batch)
        self.reward_spec = Composite(reward, shape=batch)
        flag = Categorical(2, shape=(*batch, 1), dtype=torch.bool)
        self.done_spec = Composite(done=flag, terminated=flag.clone(), truncated=flag.clone(),
                                   shape=batch)

    def _set_seed(self, seed: int | None) -> None:
        """Seed the worlds: the next full reset starts episode 0 of ``seed``."""
        self._seed = fresh_seed() if seed is None else int(seed)
        self._episode = -1
        self._state = self._current = None

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        """Start new episodes: every world's, or those ``_reset`` marks (worlds that ended
        on the last step were restarted by it already)."""
        wanted = None if tensordict is None else tensordict.get("_reset", None)
        if wanted is None or self._state is None:
            last = -1 if self._state is None else int(self._state.episode.max())
            self._episode = max(self._episode + 1, last + 1)
            self._state, observation = core.reset(self.world, self._seed, self.num_envs,
                                                  episode=self._episode)
            self._current = self._present(observation)
        else:
            wanted = wanted.reshape(self.num_envs).cpu().numpy()
            stale = np.flatnonzero(wanted & ~self._restarted)
            if stale.size:  # asked to cut short episodes that are still running
                self._state = core.restart(self.world, self._state, stale)
                self._current = self._present(core.observe(self.world, self._state))
        self._restarted[:] = False
        shown, mask = self._current
        state = global_state(self.world, self._state) if self.return_state else None
        return self._output(shown, mask, state=state, flags=None)

    def maybe_reset(self, tensordict: TensorDictBase) -> TensorDictBase:
        """``EnvBase.maybe_reset`` without its masked merge where the worlds marked done are
        the ones the last step restarted: the step's own observation after its restarts is
        then the merged result (a transformed env still takes the generic path)."""
        if not self._restarts_match(tensordict.get("done", None)):
            return super().maybe_reset(tensordict)
        return self._place_restarted(tensordict)

    def step_and_maybe_reset(self, tensordict: TensorDictBase
                             ) -> tuple[TensorDictBase, TensorDictBase]:
        """``EnvBase.step_and_maybe_reset``; where the step restarted exactly the worlds it
        marks done, the carried tensordict is ``step_mdp``'s without first taking ``next``'s
        observation and done keys, which ``maybe_reset`` would overwrite every one of."""
        if tensordict.device != self.device:
            tensordict = tensordict.to(self.device)
        # The shortcuts build plain CPU TensorDicts without dim names.
        simple = (is_plain(tensordict) and self.device.type == "cpu"
                  and not tensordict._has_names())
        if (simple and tensordict.batch_size == self.batch_size
                and "_step" not in tensordict.keys() and "next" not in tensordict.keys()):
            # EnvBase.step less what applies to none of these (partial steps, preset next
            # entries, dim names to pass on) and its validation of the entry it sets.
            tensordict._set_str("next", self._step_proc_data(self._step(tensordict)),
                                validated=True, inplace=False, non_blocking=False)
        else:
            tensordict = self.step(tensordict)
        following = tensordict._get_str("next", None)
        # TorchRL's own step_mdp less its copies: every key it takes from next the restart
        # overwrites, so the carried root is what step_mdp keeps of the root (the actions:
        # _covers_next checks that none is excluded) beside the restart's output.
        kept = (kept_from_root(tensordict, self._slices, *self._carry_keys, self.info_keys)
                if simple and is_plain(following) and self._covers_next()
                and self._restarts_match(following._get_str("done", None)) else None)
        if kept is None:
            return tensordict, self.maybe_reset(self._step_mdp(tensordict))
        shown, mask, state, info = self._restarted_entries()
        return tensordict, self._output(shown, mask, state=state, flags=None, info=info,
                                        kept=kept)

    def _restarts_match(self, done: torch.Tensor | None) -> bool:
        """Whether ``done`` marks some worlds, exactly those the last step restarted."""
        if done is None or self._current is None or not self._restarted.any():
            return False
        return np.array_equal(done.reshape(-1).cpu().numpy(), self._restarted)

    def _covers_next(self) -> bool:
        """Whether a reset's output holds every key ``step_mdp`` takes from ``next``, and
        the keys it takes from the root are none it excludes from it."""
        if self._covering is None:
            shown, mask = self._current
            fresh = self._output(shown, mask, flags=None, state=(
                global_state(self.world, self._state) if self.return_state else None))
            given = {(key,) if isinstance(key, str) else key for key in fresh.keys(True, True)}
            excluded = set(leaves(self._step_mdp.exclude_from_root))
            taken = set(leaves(self._step_mdp.keys_from_next))
            self._covering = (taken <= given
                              and not excluded & set(leaves(self._step_mdp.keys_from_root)))
            # What the fast carry leaves out of the root: see kept_from_root.
            self._carry_keys = (excluded, {key[1] for key in taken
                                           if len(key) > 1 and key[0] in self._slices})
        return self._covering

    def _place_restarted(self, tensordict: TensorDictBase) -> TensorDictBase:
        """``tensordict`` updated with the restarted worlds' observations and cleared flags
        (what ``update`` with a reset's output gives)."""
        shown, mask, state, info = self._restarted_entries()
        return tensordict.update(self._output(shown, mask, state=state, flags=None,
                                              info=info))

    def _restarted_entries(self) -> tuple:
        """The observation, mask, state and info a reset of the worlds the last step
        restarted gives (what the carried root holds), clearing the restart marks."""
        # The worlds still running keep the outcomes of the step (TorchRL's masked merge
        # keeps their next entries); restarted worlds have none yet.
        restarted, info = np.flatnonzero(self._restarted), {}
        for key, value in self._info.items():
            info[key] = value.copy()
            info[key][restarted] = 0
        self._restarted[:] = False
        shown, mask = self._current
        state = global_state(self.world, self._state) if self.return_state else None
        return shown, mask, state, info

    def _step_proc_data(self, next_tensordict_out: TensorDictBase) -> TensorDictBase:
        """``EnvBase._step_proc_data`` without its reshapes and done completion: ``_step``
        gives every reward and done key in its spec's shape (type checks still run where
        ``run_type_checks`` asks for them)."""
        if self.run_type_checks:
            return super()._step_proc_data(next_tensordict_out)
        return next_tensordict_out

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        """Step every world once with the groups' joint actions."""
        joint = np.empty((self.num_envs, self.world.num_agents), dtype=np.int64)
        size = len(self._decoded)
        for group, members in self._slices.items():
            action = tensordict.get((group, "action"))
            if not self.categorical_actions:
                if not bool((action.sum(-1) == 1).all()):
                    raise ValueError(f"({group!r}, 'action') must be one-hot over "
                                     f"{action.shape[-1]} joint actions (categorical_actions="
                                     "False)")
                action = action.to(torch.uint8).argmax(-1)
            action = action.reshape(self.num_envs, -1).cpu().numpy()
            if action.dtype.kind not in "iu" or action.min() < 0 or action.max() >= size:
                try:  # decode_checked says what is wrong
                    spaces.decode_checked(self.world, action)
                except ValueError as error:
                    raise ValueError(f"({group!r}, 'action'): {error}") from None
            joint[:, members] = action
        actions = self._decoded.take(joint, axis=0)  # [B, N, 1 + L]; take: no fancy index
        self._state, result = core.step(self.world, self._state, actions, auto_reset=True)
        self._restarted[:] = False
        self._restarted[result.final_index] = True
        # next holds the observation each world ended on
        self._current, (shown, mask) = self._present_step(result)
        state = self._state
        info = self._info = {"goal_achieved": result.goal_achieved, **result.info}
        if self.return_state:
            state = global_state(self.world, state)
            if result.final_index.size:
                state[result.final_index] = global_state(self.world, result.final_state)
        return self._output(shown, mask, state=state,
                            flags=(result.terminated, result.truncated),
                            reward=result.reward, info=info)

    def _present(self, observation: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The observation ``[B, N, F]`` as the env shows it, and the action mask."""
        if self.encoder is not None:
            return self.encoder(observation), spaces.extend_mask(self.world,
                                                                 observation["action_mask"])
        return present_flat(observation, self._flat_columns(observation), len(self._decoded))

    def _flat_columns(self, observation: dict[str, np.ndarray]) -> list[tuple[str, int, int]]:
        """The flat layout's columns, made on first use."""
        if self._columns is None:
            self._columns = flat_columns(self.world, observation)
        return self._columns

    def _present_step(self, result) -> tuple[tuple[np.ndarray, np.ndarray],
                                            tuple[np.ndarray, np.ndarray]]:
        """``_present`` of the observation after a step's restarts, and of what ``next``
        shows: the same, but the observation each ended world ended on."""
        columns = None if self.encoder else self._flat_columns(result.observation)
        return present_step(self._present, result.observation, result.final_observation,
                            result.final_index, columns, len(self._decoded))

    def _output(self, shown: np.ndarray, mask: np.ndarray, state: np.ndarray | None, flags,
                reward: np.ndarray | None = None,
                info: dict[str, np.ndarray] | None = None,
                kept: dict | None = None) -> TensorDictBase:
        """The TensorDict of one reset or step (see ``_entries``), beside the entries
        ``kept`` (a tree of tensors that the output's entries override)."""
        entries = self._entries(shown, mask, state, flags, reward=reward, info=info)
        for key, value in (kept or {}).items():
            if key in self._slices:
                entries[key] = {**value, **entries[key]}
            else:
                entries.setdefault(key, value)
        on_cpu = self.device.type == "cpu"
        device = self.device if on_cpu else None  # numpy arrays are on the CPU
        for group, members in self._members.items():
            shape = torch.Size([self.num_envs, len(members)])
            entry = entries[group]
            entry["info"] = TensorDict._new_unsafe(entry["info"], batch_size=shape,
                                                   device=device)
            entries[group] = TensorDict._new_unsafe(entry, batch_size=shape, device=device)
        output = TensorDict._new_unsafe(entries, batch_size=self.batch_size, device=device)
        return output if on_cpu else output.to(self.device)

    def _entries(self, shown: np.ndarray, mask: np.ndarray, state: np.ndarray | None, flags,
                 reward: np.ndarray | None = None,
                 info: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
        """The CPU tensors of one reset or step, nested by group: every array split into
        its groups (views where a group's agents are evenly spaced, as a pair's are)."""
        batch = self.num_envs
        source: dict[str, Any] = {}
        allowed = mask.view(bool)  # the mask is int8 0/1: the same bytes read as bool
        if info is None:  # a reset: no outcome yet
            zeros = np.zeros((batch, self.world.num_agents), np.float32)
            info = dict.fromkeys(self.info_keys, zeros)
        for group, members in self._slices.items():
            entry = {"observation": torch.from_numpy(shown[:, members]),
                     "action_mask": torch.from_numpy(allowed[:, members]),
                     "info": {key: torch.from_numpy(info[key][:, members])
                              for key in self.info_keys}}
            if self.spatial_view:  # the view's one-hot cells come first, in raster order
                cut, seen = self.encoder.view_size, entry["observation"]
                entry["view"] = seen[..., :cut].reshape(*seen.shape[:2],
                                                        *self.encoder.view_shape)
                entry["observation"] = seen[..., cut:]
            if reward is not None:
                entry["reward"] = torch.from_numpy(reward[:, members, None])
            source[group] = entry
        terminated, truncated = (np.zeros(batch, bool),) * 2 if flags is None else flags
        source["terminated"] = torch.from_numpy(terminated[:, None])
        source["truncated"] = torch.from_numpy(truncated[:, None])
        source["done"] = torch.from_numpy((terminated | truncated)[:, None])
        if self.return_state:
            source["state"] = torch.from_numpy(state.astype(np.float32))
        return source


def make_torchrl(name: str, num_envs: int, seed: int | None = None,
                 device: str | torch.device = "cpu", categorical_actions: bool = True,
                 return_state: bool = False, one_hot: bool = False,
                 spatial_view: bool = False, **task_kwargs: Any) -> TorchRLEnv:
    """A batched TorchRL env of ``num_envs`` worlds of task ``name`` (an ``ENVIRONMENTS``
    key); ``task_kwargs`` configure the world, with the adapter's ``LAYOUT`` fixed.
    ``spatial_view`` (with ``one_hot``) shows the view as an image ``(group, "view")``."""
    module = task_module(name)
    clash = {key: value for key, value in task_kwargs.items()
             if key in LAYOUT and value != LAYOUT[key]}
    if clash:
        raise ValueError(f"the TorchRL adapter fixes {LAYOUT}; drop {clash} (its actions "
                         "are joint indices and its observations flat floats)")
    world = module.build_world(configure(module.CONFIG, {**task_kwargs, **LAYOUT}))
    return TorchRLEnv(world, num_envs, seed=seed, device=device,
                      categorical_actions=categorical_actions, return_state=return_state,
                      one_hot=one_hot, spatial_view=spatial_view)
