"""MAPPO (or IPPO) from BenchMARL on the README's speaker-listener pair, with no glue code.

``socius_task("language_pair")`` is a BenchMARL task over the native batched TorchRL env.
The script trains for ``--frames`` environment frames with BenchMARL's own loop, then
measures greedy success on 1,000 fresh episodes of the training rooms, beside the
success of a listener that ignores the message (chance is 1/3 rooms' objects, minus
timeouts), and prints the environment frames and gradient updates it used.

    python examples/benchmarl_mappo.py --algorithm mappo --frames 1500000 --seed 0

With seed 0 (1.5M frames, 10,000 gradient updates, 12.7 minutes beside another job on
the two cores) it printed greedy success 0.324, and 0.324 with the speaker silenced:
MAPPO learns to step on an object but not to use the channel (EXPERIMENTS.md, 11).

Needs the extra: pip install 'socius[benchmarl]'.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import torch
from benchmarl.algorithms import IppoConfig, MappoConfig
from benchmarl.experiment import Experiment, ExperimentConfig
from benchmarl.models.mlp import MlpConfig
from torchrl.envs.utils import ExplorationType, set_exploration_type

from socius.envs.benchmarl_task import socius_task

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--algorithm", choices=("mappo", "ippo"), default="mappo")
parser.add_argument("--frames", type=int, default=1_500_000, help="environment frames")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--envs", type=int, default=600, help="worlds stepped together")
parser.add_argument("--episodes", type=int, default=1000, help="greedy evaluation episodes")
args = parser.parse_args()

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=DeprecationWarning)

task = socius_task("language_pair")
config = ExperimentConfig.get_from_yaml()
config.prefer_continuous_actions = False  # socius actions are discrete joint indices
config.max_n_frames = args.frames
config.on_policy_n_envs_per_worker = args.envs
config.on_policy_collected_frames_per_batch = 10 * args.envs  # one episode per world
config.on_policy_minibatch_size = 600
config.on_policy_n_minibatch_iters = 2  # epochs: each goes over the batch in minibatches
config.lr = 1e-3
config.gamma = 0.99
config.evaluation = False
config.render = False
config.loggers = []
config.create_json = False
config.checkpoint_at_end = False
config.save_folder = tempfile.mkdtemp(prefix="socius-benchmarl-")
algorithm = (MappoConfig if args.algorithm == "mappo" else IppoConfig).get_from_yaml()
algorithm.entropy_coef = 0.0  # BenchMARL's default

model = MlpConfig.get_from_yaml()
model.num_cells = [128, 128]
experiment = Experiment(task=task, algorithm_config=algorithm, seed=args.seed, config=config,
                        model_config=model, critic_model_config=model)

start = time.perf_counter()
experiment.run()
elapsed = time.perf_counter() - start
minibatches = config.on_policy_collected_frames_per_batch // config.on_policy_minibatch_size
updates = (experiment.n_iters_performed * config.on_policy_n_minibatch_iters * minibatches
           * len(experiment.group_map))


def greedy_success(policy, mute: bool) -> float:
    """Success over ``args.episodes`` fresh episodes with greedy actions; ``mute`` blanks
    every message the speaker sends (the listener then acts without language)."""
    env = task.get_env_fun(args.episodes, False, 10_000 + args.seed, "cpu")()
    tensordict = env.reset()
    decided = torch.zeros(args.episodes, dtype=torch.bool)
    success = torch.zeros(args.episodes)
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        while not decided.all():  # every first episode ends within max_cycles steps
            tensordict = policy(tensordict)
            if mute:  # the speaker always says token 0 twice: joint index 0 is (stay, 0, 0)
                tensordict["speaker", "action"] = torch.zeros_like(
                    tensordict["speaker", "action"])
            stepped, tensordict = env.step_and_maybe_reset(tensordict)
            ended = stepped["next", "done"].squeeze(-1) & ~decided
            success[ended] = stepped["next", "listener", "info", "success"][ended, 0]
            decided |= ended
    return float(success.mean())

policy = experiment.policy
print(f"{args.algorithm} seed {args.seed}: {experiment.total_frames:,} frames, "
      f"{experiment.n_iters_performed} iterations, {updates} gradient updates, "
      f"{elapsed / 60:.1f} min "
      f"({experiment.total_frames / elapsed:,.0f} frames/s)")
print(f"  greedy success {greedy_success(policy, mute=False):.3f}  "
      f"(same listener, speaker silenced: {greedy_success(policy, mute=True):.3f})")
