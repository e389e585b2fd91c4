"""RLlib over the socius parallel env: ParallelPettingZooEnv, and PPO with one policy per role.

RLlib pins gymnasium==1.2.2, so it lives in its own virtual environment: see ``.ci/rllib``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip(
    "ray.rllib", reason="the socius[rllib] extra is not installed (it needs its own virtual "
                        "environment: run .ci/rllib, or pip install 'socius[rllib]')")

import ray  # noqa: E402
import torch  # noqa: E402
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv  # noqa: E402

from socius.envs import referential_v0  # noqa: E402

CONFIG = dict(num_agents=4, max_cycles=6)  # speaker_0, listener_0, speaker_1, listener_1


def role(agent_id: str, *args, **kwargs) -> str:
    """RLlib policy_mapping_fn: agents ``<role>_<i>`` share the policy named ``<role>``."""
    return agent_id.rsplit("_", 1)[0]


def make_env(env_config: dict) -> ParallelPettingZooEnv:
    """The env creator RLlib calls on each env runner."""
    return ParallelPettingZooEnv(
        referential_v0.parallel_env(seed=env_config.get("seed", 0), **CONFIG))


def test_wrapper_sees_every_agent_and_episodes_end_together():
    env = ParallelPettingZooEnv(
        referential_v0.parallel_env(seed=0, render_mode="rgb_array", **CONFIG))
    agents = ["speaker_0", "listener_0", "speaker_1", "listener_1"]
    # The wrapper builds its spaces from the agents present at reset: all of them.
    assert set(env.observation_space.spaces) == set(agents) == set(env.action_space.spaces)
    observations, _ = env.reset(seed=3)
    assert set(observations) == set(agents)
    generator = np.random.default_rng(0)
    nvec = env.action_space["speaker_0"].nvec
    for _ in range(CONFIG["max_cycles"]):
        actions = {agent: generator.integers(0, nvec) for agent in agents}
        observations, rewards, terminated, truncated, _ = env.step(actions)
        ended = terminated["__all__"] or truncated["__all__"]
        # Either nobody is done or everybody is: the episode ends for all agents at once.
        assert {terminated[a] or truncated[a] for a in agents} == {ended}
        if ended:
            break
    assert ended  # by max_cycles at the latest
    assert env.render().ndim == 3  # RLlib calls render(mode); the facade accepts it


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray instance (``local_mode=True`` raises in current Ray)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ppo_trains_one_policy_per_role(local_ray, tmp_path):
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.connectors.env_to_module import FlattenObservations
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    register_env("socius_referential", make_env)
    config = (
        PPOConfig()
        .environment("socius_referential", env_config={"seed": 0})
        # The Dict observation holds integer Boxes; flattening also casts them to float32.
        .env_runners(num_env_runners=0, rollout_fragment_length=60,
                     env_to_module_connector=lambda env, spaces, device:
                     FlattenObservations(multi_agent=True))
        .multi_agent(policies={"speaker", "listener"}, policy_mapping_fn=role)
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={
            "speaker": RLModuleSpec(), "listener": RLModuleSpec()}))
        .training(train_batch_size_per_learner=120, minibatch_size=60, num_epochs=2)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        before = {name: [p.detach().clone() for p in algo.get_module(name).parameters()]
                  for name in ("speaker", "listener")}
        results = [algo.train() for _ in range(2)]
        after = {name: list(algo.get_module(name).parameters())
                 for name in ("speaker", "listener")}
    finally:
        algo.stop()
        shutil.rmtree(algo.logdir, ignore_errors=True)

    for result in results:
        runners = result["env_runners"]
        assert runners["num_env_steps_sampled"] >= 120
        steps = runners["num_agent_steps_sampled"]
        # Every agent acts on every step, and each role's policy gets both of its agents.
        assert len(set(steps.values())) == 1 and set(steps) == {
            "speaker_0", "listener_0", "speaker_1", "listener_1"}
        modules = runners["num_module_steps_sampled"]
        assert modules["speaker"] == modules["listener"] == 2 * steps["speaker_0"]
        assert runners["num_episodes"] >= 1
        # The listener module's two agents each earn 1 for success, 0 for a wrong object
        # and pay timeout_cost for a timeout, once per episode.
        cost = referential_v0.CONFIG.timeout_cost
        assert -2 * cost <= runners["module_episode_returns_mean"]["listener"] <= 2.0
        assert {"speaker", "listener"} <= set(result["learners"])
    for name in ("speaker", "listener"):
        changed = any(not torch.equal(b, a) for b, a in zip(before[name], after[name]))
        assert changed, f"PPO did not update the {name} policy"
