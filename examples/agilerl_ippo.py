"""AgileRL's IPPO on the referential game, with no glue code.

    bash .ci/agilerl   # builds .venv-agilerl (AgileRL 2.58 pins pettingzoo<1.27)
    .venv-agilerl/bin/python examples/agilerl_ippo.py

The world's settings give AgileRL what it reads: a flat float observation (``flatten``,
``flat_dtype``), the action mask in ``info`` (``mask_in="info"``) over every
action part (``action_mask="components"``: 5 moves, then V per token). Agents are named
``<role>_<i>``, so IPPO shares one network per role (speaker, listener). The raw
ParallelEnv is used: AgileRL's AsyncPettingZooVecEnv loses the masks.
"""

from __future__ import annotations

import torch
from agilerl.algorithms import IPPO
from agilerl.training.train_multi_agent_on_policy import train_multi_agent_on_policy

from socius.envs import referential_v0

torch.set_num_threads(1)
env = referential_v0.parallel_env(seed=0, flatten=True, flat_dtype="float32",
                                  mask_in="info", action_mask="components")
agents = env.possible_agents
learner = IPPO([env.observation_space(a) for a in agents],
               [env.action_space(a) for a in agents], agent_ids=agents,
               learn_step=256, batch_size=64)
population, fitnesses = train_multi_agent_on_policy(
    env, "referential_v0", "IPPO", [learner], max_steps=20_000, evo_steps=2_000,
    verbose=False)
print(f"IPPO: {population[0].steps} steps, groups {population[0].shared_agent_ids}, "
      f"fitness by evaluation {[round(float(f), 3) for f in fitnesses[0]]}")
