"""A socius world in TorchRL: PettingZooWrapper, check_env_specs, and a random rollout.

    python examples/torchrl_rollout.py

Parallel envs group agents by role (``speaker``, ``listener``), so one network can serve
each role; AEC envs need ``use_mask=True`` and give one group per agent. TorchRL reads a
Dict observation's ``action_mask`` as a mask over the whole action, and socius masks moves
only, so a task that talks (message_length > 0) is wrapped with ``flatten=True``.
Needs the extra: pip install 'socius[torchrl]'.
"""

from __future__ import annotations

import warnings

import torch
from torchrl.envs.libs.pettingzoo import PettingZooWrapper
from torchrl.envs.utils import check_env_specs

from socius.envs import maze_v0, referential_v0

warnings.filterwarnings("ignore", message="PettingZoo in TorchRL is tested")


def uniform_policy(nvec: torch.Tensor, group_map: dict, generator: torch.Generator):
    """A TorchRL policy: uniform ``[move, tokens...]`` for every agent of every group."""
    def policy(tensordict):
        for group, agents in group_map.items():
            uniform = torch.rand((len(agents), len(nvec)), generator=generator)
            tensordict[group, "action"] = (uniform * nvec).long()
        return tensordict
    return policy


# Parallel: two speaker-listener pairs, flat observations, the global state for a critic.
socius_env = referential_v0.parallel_env(num_agents=4, max_cycles=10, flatten=True)
env = PettingZooWrapper(socius_env, return_state=True)
check_env_specs(env, seed=0)
nvec = torch.as_tensor(socius_env.action_space("speaker_0").nvec)
generator = torch.Generator().manual_seed(0)
rollout = env.rollout(200, uniform_policy(nvec, env.group_map, generator),
                      tensordict=env.reset(seed=0), auto_reset=False, break_when_any_done=False)
episodes = int(rollout["next", "done"].sum())
print(f"referential_v0 (parallel): groups {env.group_map}")
print(f"  {rollout.batch_size[0]} steps, {episodes} episodes ended, "
      f"state {tuple(rollout['state'].shape)}")
for group in env.group_map:
    reward = rollout["next", group, "reward"]
    print(f"  {group}: observation {tuple(rollout[group, 'observation'].shape)}, action "
          f"{tuple(rollout[group, 'action'].shape)}, mean return per agent "
          f"{reward.sum().item() / episodes / reward.shape[1]:.3f}")

# AEC: one agent acts per step; "mask" says whose turn it is.
socius_env = maze_v0.env(num_agents=2, max_cycles=20)
env = PettingZooWrapper(socius_env, use_mask=True)
check_env_specs(env, seed=0)
moves = socius_env.action_space("agent_0").n  # a mute maze: Discrete(5), one index


def uniform_moves(tensordict):
    """A uniform move for every agent of every group (TorchRL's categorical index)."""
    for group, agents in env.group_map.items():
        tensordict[group, "action"] = torch.randint(moves, (len(agents),), generator=generator)
    return tensordict


rollout = env.rollout(200, uniform_moves,
                      tensordict=env.reset(seed=0), auto_reset=False, break_when_any_done=False)
turns = [int(rollout[agent, "mask"].sum()) for agent in env.group_map]
print(f"maze_v0 (AEC): groups {list(env.group_map)}, turns {turns}, "
      f"{int(rollout['next', 'done'].sum())} episodes ended, goals reached per agent "
      f"{[int(rollout['next', a, 'info', 'goal_achieved'].sum()) for a in env.group_map]}")
