"""socius's native TorchRL env: 1,024 worlds in one env, a masked policy per role, and
TorchRL's collector.

    python examples/torchrl_native.py

``make_torchrl`` groups agents by role (``speaker``, ``listener``), gives each a flat
float observation, a mask over joint (move, tokens) actions and a ``Categorical`` action,
so TorchRL's own modules build the policy: one ``MultiAgentMLP`` per group (parameters
shared within it), read through ``MaskedCategorical``. The script checks the specs,
collects 20 batches, and prints frames per second and the outcomes of the episodes that
ended. Needs the extra: pip install 'socius[torchrl]'.
"""

from __future__ import annotations

import time

import torch
from tensordict.nn import TensorDictModule, TensorDictSequential
from torchrl import collectors
from torchrl.envs.utils import check_env_specs
from torchrl.modules import MaskedCategorical, MultiAgentMLP, ProbabilisticActor

from socius.envs.torchrl_env import make_torchrl

torch.set_num_threads(1)
torch.manual_seed(0)  # TorchRL's modules initialise their weights from torch's global RNG
env = make_torchrl("referential_v0", num_envs=1024, seed=0)
check_env_specs(env, seed=0)
print("groups:", env.group_map)

actors = []
for group, agents in env.group_map.items():
    observation = env.observation_spec[group, "observation"].shape[-1]
    actions = env.action_spec[group, "action"].space.n
    net = MultiAgentMLP(n_agent_inputs=observation, n_agent_outputs=actions,
                        n_agents=len(agents), centralised=False, share_params=True,
                        depth=2, num_cells=64)
    logits = TensorDictModule(net, in_keys=[(group, "observation")],
                              out_keys=[(group, "logits")])
    actors.append(ProbabilisticActor(
        TensorDictSequential(logits), in_keys={"logits": (group, "logits"),
                                               "mask": (group, "action_mask")},
        out_keys=[(group, "action")], distribution_class=MaskedCategorical,
        return_log_prob=True, log_prob_key=(group, "log_prob")))
policy = TensorDictSequential(*actors)

collector = collectors.Collector(env, policy, frames_per_batch=10 * 1024, total_frames=20 * 10240)
start, frames, outcomes = time.perf_counter(), 0, []
for batch in collector:
    frames += batch.numel()
    ended = batch["next", "done"].squeeze(-1)
    info = batch["next", "listener", "info"]
    outcomes.append(torch.stack([info[key][ended].sum() for key in
                                 ("success", "wrong_object", "timeout")]))
elapsed = time.perf_counter() - start
collector.shutdown()
success, wrong, timeout = torch.stack(outcomes).sum(0).tolist()
episodes = success + wrong + timeout
print(f"{frames:,} frames in {elapsed:.1f} s: {frames / elapsed:,.0f} frames/s with the policy")
print(f"untrained policy over {int(episodes):,} episodes: success {success / episodes:.3f}, "
      f"wrong object {wrong / episodes:.3f}, timeout {timeout / episodes:.3f}")
