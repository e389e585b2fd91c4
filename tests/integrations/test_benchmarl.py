"""BenchMARL: every shipped socius task runs MAPPO/IPPO with no user code."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip(
    "benchmarl", reason="the socius[benchmarl] extra is not installed (pip install "
    "'socius[benchmarl]')")

import torch  # noqa: E402
from benchmarl.algorithms import IppoConfig, MappoConfig  # noqa: E402
from benchmarl.experiment import Experiment, ExperimentConfig  # noqa: E402
from benchmarl.models.mlp import MlpConfig  # noqa: E402
from torchrl.data import Categorical  # noqa: E402
from torchrl.envs.utils import ExplorationType, set_exploration_type  # noqa: E402

from socius.envs.benchmarl_task import SociusTask, socius_task, task_configs  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def small_experiment(task, algorithm, folder, frames=1200, envs=60, batch=600, minibatch=100,
                     epochs=2, seed=0) -> Experiment:
    """A BenchMARL experiment of ``frames`` frames on ``envs`` worlds, ``epochs`` passes
    over each batch in minibatches, learning rate 1e-3, 64-unit MLPs, nothing logged."""
    config = ExperimentConfig.get_from_yaml()
    config.prefer_continuous_actions = False
    config.max_n_frames = frames
    config.on_policy_n_envs_per_worker = envs
    config.on_policy_collected_frames_per_batch = batch
    config.on_policy_minibatch_size = minibatch
    config.on_policy_n_minibatch_iters = epochs
    config.lr = 1e-3
    config.evaluation, config.render, config.create_json = False, False, False
    config.loggers = []
    config.save_folder = str(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MlpConfig.get_from_yaml()
        model.num_cells = [64, 64]
        return Experiment(task=task, algorithm_config=algorithm.get_from_yaml(), seed=seed,
                          config=config, model_config=model, critic_model_config=model)


@pytest.mark.parametrize("name", sorted(task_configs()))
def test_every_shipped_task_has_consistent_specs(name):
    task = socius_task(name)
    env = task.get_env_fun(3, False, 0, "cpu")()
    assert env.batch_size == (3,)  # batched natively: BenchMARL adds no SerialEnv
    groups = task.group_map(env)
    assert set(groups) == set(env.world.role_names)
    observation = task.observation_spec(env)
    for group in groups:
        # Models read every leaf of a group's observation spec: only the observation.
        assert list(observation[group].keys()) == ["observation"]
        assert isinstance(task.action_spec(env)[group, "action"], Categorical)
        assert ("action_mask" in task.action_mask_spec(env)[group].keys())
        assert "goal_achieved" in task.info_spec(env)[group, "info"].keys()
    assert task.max_steps(env) == env.world.config.max_cycles


@pytest.mark.parametrize("algorithm", [MappoConfig, IppoConfig], ids=["mappo", "ippo"])
def test_mappo_and_ippo_run_on_the_language_pair(algorithm, tmp_path, one_torch_thread):
    experiment = small_experiment(socius_task("language_pair"), algorithm, tmp_path)
    experiment.run()
    assert experiment.total_frames == 1200 and experiment.n_iters_performed == 2
    env = experiment.task.get_env_fun(40, False, 1, "cpu")()
    with torch.no_grad():
        batch = env.rollout(11, experiment.policy, break_when_any_done=False)
    logged = SociusTask.log_info(batch)
    assert {"listener/success", "listener/timeout", "speaker/success"} <= set(logged)
    assert 0.0 <= logged["listener/success"] <= 1.0


def test_policies_respect_the_action_mask(tmp_path, one_torch_thread):
    """A speaker never moves, so its policy puts no weight on a move: BenchMARL builds a
    masked policy from the task's action mask."""
    experiment = small_experiment(socius_task("language_pair"), MappoConfig, tmp_path,
                                  frames=600)
    env = experiment.task.get_env_fun(50, False, 0, "cpu")()
    tensordict = env.reset()
    for _ in range(5):
        tensordict = experiment.policy(tensordict)
        for group in env.group_map:
            chosen = tensordict[group, "action"]
            mask = tensordict[group, "action_mask"]
            assert mask.gather(-1, chosen.unsqueeze(-1)).all()
        tensordict = env.step(tensordict)["next"]
    moves = torch.div(tensordict["speaker", "action_mask"].nonzero()[:, -1], 64,
                      rounding_mode="floor")
    assert (moves == 0).all()  # joint index // V^L is the move: only 'stay' is allowed


def test_bad_task_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="name must be one of"):
        socius_task("nope")
    with pytest.raises(ValueError, match=r"config\['env'\] must be one of"):
        SociusTask("x", {"env": "nope_v0"})
    with pytest.raises(ValueError, match="unknown|no field|room_sizes"):
        socius_task("language_pair", room_sizes=4).get_env_fun(2, False, 0, "cpu")()
    with pytest.raises(ValueError, match="prefer_continuous_actions=False"):
        socius_task("maze_v0").get_env_fun(2, True, 0, "cpu")


def greedy_goal_rate(task, policy, episodes: int = 200, seed: int = 123) -> float:
    """Share of ``episodes`` fresh episodes whose (one) agent reaches its goal."""
    env = task.get_env_fun(episodes, False, seed, "cpu")()
    tensordict = env.reset()
    decided = torch.zeros(episodes, dtype=torch.bool)
    reached = torch.zeros(episodes)
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        while not decided.all():
            stepped, tensordict = env.step_and_maybe_reset(policy(tensordict))
            ended = stepped["next", "done"].squeeze(-1) & ~decided
            reached[ended] = stepped["next", "agent", "info", "goal_achieved"][ended, 0]
            decided |= ended
    return float(reached.mean())


def test_mappo_learns_a_small_maze_far_above_a_random_walker(tmp_path, one_torch_thread):
    """40,000 frames of MAPPO (320 gradient updates: 20 batches x 4 epochs x 4
    minibatches) reach the goal cell far more often than a uniformly random walker on the
    same episodes."""
    task = socius_task("maze_v0", layout="open", size=7, max_cycles=20, num_agents=1)
    experiment = small_experiment(task, MappoConfig, tmp_path, frames=40_000, envs=100,
                                  batch=2000, minibatch=500, epochs=4)
    experiment.run()
    generator = torch.Generator().manual_seed(0)

    def walker(tensordict):
        mask = tensordict["agent", "action_mask"].float()
        draw = torch.multinomial(mask.reshape(-1, mask.shape[-1]), 1, generator=generator)
        tensordict["agent", "action"] = draw.reshape(mask.shape[:-1])
        return tensordict

    trained, random = greedy_goal_rate(task, experiment.policy), greedy_goal_rate(task, walker)
    assert trained >= random + 0.4, (trained, random)


def test_spatial_view_gives_each_group_an_image_beside_its_fields():
    task = socius_task("language_pair", spatial_view=True)
    env = task.get_env_fun(2, False, 0, "cpu")()
    observation = task.observation_spec(env)
    for group in task.group_map(env):
        assert set(observation[group].keys()) == {"view", "observation"}
        assert observation[group, "view"].shape == (1, *env.encoder.view_shape)
    assert socius_task("language_pair").config["spatial_view"] is False
