"""A socius world in RLlib: PPO with one shared policy per role on ``referential_v0``.

    python examples/rllib_ppo.py [ITERATIONS]

RLlib pins gymnasium==1.2.2, so run this from its own virtual environment, e.g. the one
``.ci/rllib`` builds: ``.venv-rllib/bin/python examples/rllib_ppo.py``.
Agents are named ``<role>_<i>``; the policy_mapping_fn sends every speaker to the
``speaker`` policy and every listener to the ``listener`` policy.
"""

from __future__ import annotations

import shutil
import sys

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.connectors.env_to_module import FlattenObservations
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

from socius.envs import referential_v0


def make_env(env_config: dict) -> ParallelPettingZooEnv:
    """Two speaker-listener pairs; every agent is present from reset to the shared end."""
    return ParallelPettingZooEnv(referential_v0.parallel_env(
        seed=env_config["seed"], num_agents=4, max_cycles=10, room_size=3, num_objects=2))


def role(agent_id: str, *args, **kwargs) -> str:
    """``listener_1`` -> ``listener``."""
    return agent_id.rsplit("_", 1)[0]


iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # local_mode=True raises
register_env("socius_referential", make_env)
config = (
    PPOConfig()
    .environment("socius_referential", env_config={"seed": 0})
    # Flatten the Dict observation (and cast its integers to float32) for the default MLP.
    .env_runners(num_env_runners=0, rollout_fragment_length=200,
                 env_to_module_connector=lambda env, spaces, device:
                 FlattenObservations(multi_agent=True))
    .multi_agent(policies={"speaker", "listener"}, policy_mapping_fn=role)
    .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={
        "speaker": RLModuleSpec(), "listener": RLModuleSpec()}))
    .training(train_batch_size_per_learner=400, minibatch_size=100, num_epochs=4, lr=3e-4)
    .debugging(seed=0)
)
algo = config.build_algo()
for iteration in range(1, iterations + 1):
    result = algo.train()
    runners, learners = result["env_runners"], result["learners"]
    returns = runners["module_episode_returns_mean"]
    print(f"iteration {iteration}: {runners['num_episodes']} episodes, "
          f"{runners['num_env_steps_sampled']} env steps; mean return per agent "
          f"speaker {returns['speaker'] / 2:.3f} listener {returns['listener'] / 2:.3f}; "
          f"policy loss speaker "
          f"{learners['speaker']['policy_loss']:.4f} listener "
          f"{learners['listener']['policy_loss']:.4f}")
algo.stop()
shutil.rmtree(algo.logdir, ignore_errors=True)  # RLlib leaves an empty ~/ray_results folder
ray.shutdown()
