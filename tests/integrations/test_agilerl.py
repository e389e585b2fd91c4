"""AgileRL's IPPO on referential_v0 with no user code between them.

AgileRL 2.58 pins pettingzoo<1.27 and imports peft at import time, so it cannot share the
main test environment: ``bash .ci/agilerl`` builds ``.venv-agilerl`` and runs this file.
What it needs of the world, all plain config settings: a flat observation (``flatten``),
the mask in ``info`` (``mask_in='info'``) covering every action part (``'components'``:
5 moves, then V per token, its network's outputs), and agents named ``<role>_<i>`` (it
shares one network per role). It runs the raw ParallelEnv: its AsyncPettingZooVecEnv
drops masks (AgileRL's limit, README).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("agilerl", reason="AgileRL is tested in its own venv: bash .ci/agilerl")

from agilerl.algorithms import IPPO  # noqa: E402
from agilerl.training.train_multi_agent_on_policy import (  # noqa: E402
    train_multi_agent_on_policy,
)

from socius.envs import referential_v0  # noqa: E402

SETTINGS = dict(flatten=True, flat_dtype="float32", mask_in="info", action_mask="components")


def test_ippo_trains_a_few_iterations_on_the_referential_game(one_torch_thread):
    env = referential_v0.parallel_env(seed=0, **SETTINGS)
    agents = env.possible_agents
    learner = IPPO([env.observation_space(a) for a in agents],
                   [env.action_space(a) for a in agents], agent_ids=agents,
                   learn_step=64, batch_size=32)
    before = {name: [p.detach().clone() for p in net.parameters()]
              for name, net in learner.actors.items()}
    population, fitnesses = train_multi_agent_on_policy(
        env, "referential_v0", "IPPO", [learner], max_steps=1024, evo_steps=256,
        verbose=False)
    trained = population[0]
    assert trained.steps >= 1024  # environment steps collected
    assert sorted(trained.shared_agent_ids) == ["listener", "speaker"]  # one net per role
    assert all(np.isfinite(f).all() for f in fitnesses)
    # Every role's actor moved: gradient updates happened, the speaker's included.
    for name, net in trained.actors.items():
        assert any(not (a == b).all() for a, b in zip(before[name], net.parameters())), name


def test_the_mask_in_info_is_what_ippo_reads():
    env = referential_v0.parallel_env(seed=0, **SETTINGS)
    _, infos = env.reset(seed=0)
    mask = infos["listener_0"]["action_mask"]
    assert len(mask) == 5 + 2 * 8 and None not in [mask]  # IPPO asks `None in masks`
    assert mask[:5].tolist() == [1, 0, 0, 0, 0]  # the speakers' opening step: listeners stay
