"""MAPPO (or IPPO) from BenchMARL on the README's speaker-listener pair.

``socius_task("language_pair", spatial_view=True)`` is a BenchMARL task over the native
batched TorchRL env, with the listener's one-hot view as an image. The script trains with
BenchMARL's own loop for ten minutes of wall clock (or ``--frames``, whichever ends
first), then measures greedy success on 1,000 fresh episodes of the training rooms, beside
the success of the same listener with the speaker silenced (chance is 1/3 rooms' objects,
minus timeouts), and prints the frames and gradient updates it used.

    python examples/benchmarl_mappo.py --seed 0

The default model is one per group (BenchMARL's ``EnsembleModelConfig``):

- the listener's ``FusedView``: its flat fields (the inbox among them), embedded, join
  every cell of its view before two per-cell layers, so a cell can be matched against the
  message (early fusion, as socius's own listener does). An MLP over the flat one-hot
  observation cannot learn to read even a perfect code in the budget (EXPERIMENTS.md, 11);
- the speaker's MLP over its goal alone (its view is empty and its inbox holds the
  listener's tokens, which carry nothing here), its last layer scaled by 5 at
  initialisation so that it starts with a peaked, goal-dependent code for the listener to
  pick up.

The rest is BenchMARL's MAPPO as it comes (entropy 0, GAE lambda 0.9, clip 0.2), Adam
1e-3, 600 worlds, 6,000 frames a batch, 2 epochs of minibatches of 600.
With seed 0 it printed (one torch thread, on two cores shared with other work)::

    mappo seed 0 speaker learned: 1,746,000 frames, 291 batches, 11640 gradient updates, \
10.0 min (2,901 frames/s)
      greedy success 0.841 (wrong object 0.129, timeout 0.030)
      the speaker's opening messages: 6 distinct, I(message; goal) 2.46 bits
      speaker silenced: 0.219 (wrong object 0.467, timeout 0.314)

Seeds 1 and 2 gave 0.613 and 0.858 (silenced 0.240 and 0.084): mean 0.771 over seeds
0-2, each run 10 minutes, 1.75-1.86M frames, 11,640-12,400 gradient updates
(EXPERIMENTS.md, 11b).

``--speaker oracle`` is a diagnosis, not a way to play: the speaker's action is replaced
by a fixed code of its goal (token 1 the colour, token 2 the shape), so only the listener
has anything to learn. ``--model mlp --frames 1500000 --minutes 0`` is the previous setting (MLPs of
128 x 128; 0.324 on seed 0, the speaker unused).

Needs the extras: pip install 'socius[train,benchmarl]'.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from benchmarl.algorithms import IppoConfig, MappoConfig
from benchmarl.experiment import Experiment, ExperimentConfig
from benchmarl.experiment.callback import Callback
from benchmarl.models.common import EnsembleModelConfig, Model, ModelConfig
from benchmarl.models.mlp import MlpConfig
from torch import nn
from torchrl.envs.utils import ExplorationType, set_exploration_type

from socius.envs.benchmarl_task import SociusTask, socius_task
from socius.envs.torchrl_env import TorchRLEnv
from socius.societies.language.metrics import mutual_information

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--algorithm", choices=("mappo", "ippo"), default="mappo")
parser.add_argument("--frames", type=int, default=3_000_000, help="at most these frames")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--envs", type=int, default=600, help="worlds stepped together")
parser.add_argument("--episodes", type=int, default=1000, help="greedy evaluation episodes")
parser.add_argument("--speaker", choices=("learned", "oracle"), default="learned",
                    help="oracle: the speaker's tokens are a fixed code of its goal")
parser.add_argument("--epochs", type=int, default=2, help="passes over each batch")
parser.add_argument("--minibatch", type=int, default=600, help="frames per minibatch")
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--entropy", type=float, default=0.0, help="entropy bonus")
parser.add_argument("--lmbda", type=float, default=0.9, help="GAE lambda")
parser.add_argument("--cells", type=int, nargs="+", default=[128, 128], help="MLP widths")
parser.add_argument("--model", choices=("mlp", "fused"), default="fused",
                    help="fused: the flat fields join every cell of the view (FusedViewConfig)")
parser.add_argument("--speaker-view", choices=("read", "drop", "goal"), default="goal",
                    help="fused model: drop makes the speaker's model an MLP of its flat fields, "
                    "goal an MLP of its goal alone")
parser.add_argument("--speaker-gain", type=float, default=5.0,
                    help="fused model: scale of the speaker policy's last layer at init")
parser.add_argument("--minutes", type=float, default=10.0,
                    help="also stop after the first batch trained past this many minutes")
args = parser.parse_args()

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=DeprecationWarning)


class OracleSpeakerEnv(TorchRLEnv):
    """The pair with the speaker's action replaced by a fixed code of its goal: it stays
    and says (colour, shape) as tokens (a diagnosis of the listener alone)."""

    def _step(self, tensordict):
        """Step with the oracle's action in place of the speaker's."""
        goal = torch.from_numpy(self._state.goal[:, self._members["speaker"]]).long()
        code = goal[..., 0] * self.world.config.vocab_size + goal[..., 1]  # move 0: stay
        tensordict = tensordict.copy()
        tensordict.set(("speaker", "action"), code)
        return super()._step(tensordict)


class OracleSpeakerTask(SociusTask):
    """``language_pair`` whose worlds are ``OracleSpeakerEnv``s."""

    def get_env_fun(self, num_envs, continuous_actions, seed, device):
        """A maker of the oracle-speaker env over the same worlds."""
        make = super().get_env_fun(num_envs, continuous_actions, seed, device)
        one_hot = bool(self.config.get("one_hot", True))
        spatial_view = bool(self.config.get("spatial_view", False))
        return lambda: OracleSpeakerEnv(make().world, num_envs, seed=seed, device=device,
                                        one_hot=one_hot, spatial_view=spatial_view)


class FusedView(Model):
    """Early fusion for a view image and flat fields: the flat fields (the inbox among
    them), embedded, join every cell of the view; two per-cell layers (1 x 1 convolutions)
    match each cell against them, and an MLP reads the cells' features in place. One set of
    parameters for a group's agents (``share_params``); a centralised critic concatenates
    its agents' cell features. ``read_view=False`` drops the view (a plain MLP over the flat
    fields, for an agent whose view shows nothing), and ``output_gain`` scales the last
    layer's initial weights (above 1: a peaked initial policy)."""

    def __init__(self, embed: int, channels: list[int], num_cells: list[int], read_view: bool,
                 output_gain: float, flat_slice: tuple | None, **kwargs):
        super().__init__(**kwargs)
        if not self.share_params or not self.input_has_agent_dim:
            raise ValueError("FusedView needs share_params and inputs per agent")
        image = [key for key in self.in_keys if len(self.input_spec[key].shape) == 4]
        if len(image) != 1:
            raise ValueError(f"FusedView needs one image input [n, X, Y, C]; got {self.in_keys}")
        self.image_key = image[0]
        self.flat_keys = [key for key in self.in_keys if key != self.image_key]
        x, y, depth = self.input_spec[self.image_key].shape[-3:]
        flat = sum(self.input_spec[key].shape[-1] for key in self.flat_keys)
        self.flat_slice = slice(*flat_slice) if flat_slice else slice(None)
        flat = len(range(flat)[self.flat_slice])
        self.read_view = read_view
        self.embed = nn.Linear(flat, embed, device=self.device)
        layers, width = [], depth + embed
        for out in channels:
            layers += [nn.Linear(width, out, device=self.device), nn.ReLU()]
            width = out
        self.cells = nn.Sequential(*layers)  # on every cell: 1 x 1 convolutions as GEMMs
        width = (width * x * y if read_view else flat) * (
            self.n_agents if self.centralised else 1)
        head = []
        for out in num_cells:
            head += [nn.Linear(width, out, device=self.device), nn.ReLU()]
            width = out
        final = nn.Linear(width, self.output_leaf_spec.shape[-1], device=self.device)
        with torch.no_grad():
            final.weight.mul_(output_gain)
        self.head = nn.Sequential(*head, final)

    def _forward(self, tensordict):
        """Write the group's output (logits or values) from its view and flat fields."""
        view = tensordict.get(self.image_key)  # [*, n, X, Y, C]
        flat = torch.cat([tensordict.get(key) for key in self.flat_keys], dim=-1)
        flat = flat[..., self.flat_slice]
        lead = view.shape[:-3]
        if self.read_view:
            fused = torch.cat([view, self.embed(flat)[..., None, None, :].expand(
                *view.shape[:-1], -1)], dim=-1)
            cells = self.cells(fused).reshape(*lead, -1)  # [*, n, X Y channels]
        else:
            cells = flat
        if self.centralised:
            out = self.head(cells.flatten(-2))  # [*, out]
            if self.output_has_agent_dim:
                out = out[..., None, :].expand(*lead, -1)
        else:
            out = self.head(cells)
        tensordict.set(self.out_key, out)
        return tensordict


@dataclass
class FusedViewConfig(ModelConfig):
    """Config of a ``FusedView``: flat fields embedded to ``embed``, per-cell layers of
    ``channels``, then an MLP of ``num_cells``."""

    embed: int = 32
    channels: tuple = (16, 8)
    num_cells: tuple = (128,)
    read_view: bool = True
    output_gain: float = 1.0
    flat_slice: tuple | None = None

    @staticmethod
    def associated_class():
        """The model this config builds."""
        return FusedView


def goal_fields(task: SociusTask) -> tuple[int, int]:
    """Where the one-hot goal lies in ``(group, "observation")`` of a spatial-view task:
    after the one-hot inbox."""
    env = task.get_env_fun(1, False, 0, "cpu")()
    inbox = env.world.inbox_size * env.world.config.message_length * env.encoder.token_values
    return inbox, inbox + env.world.goal_size * env.encoder.goal_values


class TimeBudget(Callback):
    """Counts the batches trained and stops the run (``OutOfTime``) once ``minutes`` of
    wall clock have passed (0: never)."""

    def __init__(self, minutes: float):
        super().__init__()
        self.minutes, self.start, self.batches = minutes, time.perf_counter(), 0

    def on_train_end(self, training_td, group: str):
        """After the last group's update: count the batch, and stop when out of time."""
        if group != list(self.experiment.train_group_map)[-1]:
            return
        self.batches += 1
        if self.minutes and time.perf_counter() - self.start > 60 * self.minutes:
            raise OutOfTime


class OutOfTime(Exception):
    """Raised by ``TimeBudget`` to end ``Experiment.run`` early."""


task = socius_task("language_pair", spatial_view=args.model == "fused")
if args.speaker == "oracle":
    task = OracleSpeakerTask(task.name, task.config)
config = ExperimentConfig.get_from_yaml()
config.prefer_continuous_actions = False  # socius actions are discrete joint indices
config.max_n_frames = args.frames
config.on_policy_n_envs_per_worker = args.envs
config.on_policy_collected_frames_per_batch = 10 * args.envs  # one episode per world
config.on_policy_minibatch_size = args.minibatch
config.on_policy_n_minibatch_iters = args.epochs  # epochs: each goes over the batch
config.lr = args.lr
config.gamma = 0.99
config.evaluation = False
config.render = False
config.loggers = []
config.create_json = False
config.checkpoint_at_end = False
config.save_folder = tempfile.mkdtemp(prefix="socius-benchmarl-")
algorithm = (MappoConfig if args.algorithm == "mappo" else IppoConfig).get_from_yaml()
algorithm.entropy_coef = args.entropy
algorithm.lmbda = args.lmbda

if args.model == "fused":  # one model per group: BenchMARL's EnsembleModelConfig
    listener = FusedViewConfig(num_cells=tuple(args.cells[:1]))
    reads = args.speaker_view == "read"
    fields = goal_fields(task) if args.speaker_view == "goal" else None
    model = EnsembleModelConfig({"listener": listener, "speaker": FusedViewConfig(
        num_cells=tuple(args.cells[:1]), read_view=reads, output_gain=args.speaker_gain,
        flat_slice=fields)})
    critic = EnsembleModelConfig({"listener": listener, "speaker": FusedViewConfig(
        num_cells=tuple(args.cells[:1]), read_view=reads, flat_slice=fields)})
else:
    model = critic = MlpConfig.get_from_yaml()
    model.num_cells = list(args.cells)
budget = TimeBudget(args.minutes)
experiment = Experiment(task=task, algorithm_config=algorithm, seed=args.seed, config=config,
                        model_config=model, critic_model_config=critic, callbacks=[budget])

start = time.perf_counter()
try:
    experiment.run()
except OutOfTime:
    experiment.close()
elapsed = time.perf_counter() - start
frames = budget.batches * config.on_policy_collected_frames_per_batch
minibatches = config.on_policy_collected_frames_per_batch // config.on_policy_minibatch_size
updates = budget.batches * config.on_policy_n_minibatch_iters * minibatches * len(
    experiment.group_map)


def greedy_outcomes(policy, mute: bool) -> dict[str, float]:
    """Outcome rates over ``args.episodes`` fresh episodes with greedy actions; ``mute``
    makes the speaker always say token 0 twice (the listener then acts without language)."""
    plain = socius_task("language_pair", spatial_view=args.model == "fused") if mute else task
    env = plain.get_env_fun(args.episodes, False, 10_000 + args.seed, "cpu")()
    tensordict = env.reset()
    base = env.base_env if hasattr(env, "base_env") else env
    goal = base._state.goal[:, base._members["speaker"][0]]  # (colour, shape) per world
    said = None
    decided = torch.zeros(args.episodes, dtype=torch.bool)
    outcomes = {key: torch.zeros(args.episodes) for key in ("success", "wrong_object",
                                                             "timeout")}
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        while not decided.all():  # every first episode ends within max_cycles steps
            tensordict = policy(tensordict)
            if said is None:  # the opening step: the speaker's message (its tokens)
                said = tensordict["speaker", "action"][:, 0].numpy() % (
                    base.world.config.vocab_size ** base.world.config.message_length)
            if mute:  # joint index 0 is (stay, 0, 0)
                tensordict["speaker", "action"] = torch.zeros_like(
                    tensordict["speaker", "action"])
            stepped, tensordict = env.step_and_maybe_reset(tensordict)
            ended = stepped["next", "done"].squeeze(-1) & ~decided
            for key, value in outcomes.items():
                value[ended] = stepped["next", "listener", "info", key][ended, 0]
            decided |= ended
    rates = {key: float(value.mean()) for key, value in outcomes.items()}
    # The goal's (colour, shape) rows are its labels; nats to bits.
    return {**rates, "bits": mutual_information(said, goal) / np.log(2),
            "messages": len(np.unique(said))}


def describe(outcomes: dict[str, float]) -> str:
    """Success, then wrong objects and timeouts."""
    return (f"{outcomes['success']:.3f} (wrong object {outcomes['wrong_object']:.3f}, "
            f"timeout {outcomes['timeout']:.3f})")


policy = experiment.policy
print(f"{args.algorithm} seed {args.seed} speaker {args.speaker}: "
      f"{frames:,} frames, {budget.batches} batches, {updates} gradient updates, "
      f"{elapsed / 60:.1f} min ({frames / elapsed:,.0f} frames/s)")
spoken = greedy_outcomes(policy, mute=False)
print(f"  greedy success {describe(spoken)}")
if args.speaker == "learned":  # an oracle's code replaces the policy's messages
    print(f"  the speaker's opening messages: {spoken['messages']} distinct, "
          f"I(message; goal) {spoken['bits']:.2f} bits")
print(f"  speaker silenced: {describe(greedy_outcomes(policy, mute=True))}")
