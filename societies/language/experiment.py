"""The language experiment's record: its evaluation of a run directory, its figures and
its agents for the viewer.

A run directory holds ``config.json``, ``metrics.jsonl`` (one row per evaluation),
``timing.jsonl``, ``checkpoint.pt`` (atomic), ``evaluation.json`` (the final, full
evaluation with cross-play), ``episodes.json`` (sampled episode records),
``curves.png`` and ``tensorboard/`` (the metrics as TensorBoard events).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from socius.agents.policy import NetworkPolicy
from socius.envs.referential_v0 import build_world
from socius.societies.language.config import LanguageConfig, make_world
from socius.societies.language.evaluate import (
    cross_play_matrix,
    evaluate,
    play_evaluation,
    random_pairs,
)
from socius.societies.language.metrics import token_usage
from socius.societies.language.subgoals import CellPolicy
from socius.societies.language.train import make_population, train
from socius.societies.runs.directory import RunDirectory
from socius.societies.runs.experiment import Experiment
from socius.societies.runs.figures import save_figure
from socius.societies.runs.files import atomic_write
from socius.societies.viewer.cast import Cast, per_agent
from socius.viz.plots import matrix_heatmap, training_curves


def load_population(run_dir: str | Path):
    """The config and the population of a run's last checkpoint."""
    config = EXPERIMENT.config_of(run_dir)
    checkpoint = RunDirectory(run_dir).require_checkpoint()
    population = make_population(config, make_world(config, "train"),
                                 torch.Generator().manual_seed(config.seed))
    population.load_state_dict(checkpoint["population"])
    return config, population


def evaluate_run(run_dir: str | Path) -> dict:
    """Every figure of a run's last checkpoint (with cross-play), and a sample of its
    episodes saved as ``episodes.json``."""
    config, population = load_population(run_dir)
    report = evaluate(config, population, seed=config.seed)
    path = Path(run_dir)
    episodes = play_evaluation(config, population, "train",
                               random_pairs(config, config.seed)[:16], config.seed)
    sample = {"target": episodes.speaker["goal"][0].tolist(),
              "message": episodes.tokens[0].tolist(),
              "moves": episodes.moves.T.tolist(), "reward": episodes.rewards.T.tolist(),
              "members": episodes.members.tolist()}
    atomic_write(path / "episodes.json", lambda p: Path(p).write_text(json.dumps(sample)))
    return report


def cross_play_between(speakers_run: str | Path, listeners_run: str | Path) -> list[list[float]]:
    """Success of each speaker of one run with each listener of another (same world)."""
    config, speakers = load_population(speakers_run)
    other, listeners = load_population(listeners_run)
    if config.world != other.world or (
            config.population != other.population):
        raise ValueError(f"{speakers_run} and {listeners_run} differ in world or population "
                         "size; cross-play needs the same ones")
    return cross_play_matrix(config, speakers, listeners, config.seed).tolist()


def plot(run_dir: str | Path) -> dict:
    """Success and topographic similarity over training, saved as ``curves.png``."""
    rows = RunDirectory(run_dir).rows()
    if not rows:
        raise ValueError(f"{run_dir} has no metrics rows yet")
    target = Path(run_dir) / "curves.png"
    chance = rows[-1].get("chance", float("nan"))
    save_figure(training_curves(rows, "episodes", {
        "success": ["success", "success_heldout", "success_shuffled"],
        "structure": ["topsim", "topsim_unique", "topsim_null_p99"],
        "influence (nats)": ["cic", "signalling", "signalling_permuted"]},
        f"language, channel={EXPERIMENT.config_of(run_dir).channel}",
        reference={"success": chance}), target)
    return {"plot": str(target), **heatmap_figures(run_dir)}


def load_policy(run_dir: str | Path) -> Cast:
    """The run's world (every split's targets) with its first speaker and listener seated."""
    config, population = load_population(run_dir)
    world = build_world(dataclasses.replace(config.world, split="all"))
    networks = [population.member(world.role_names[role], 0) for role in world.agent_role]
    policies = [NetworkPolicy(network, world.num_agents) for network in networks]
    if config.agent != "flat":  # the listener chooses subgoals, which the viewer draws
        listeners = [int(i) for i in world.info["listeners"]]
        for agent in listeners:
            policies[agent] = CellPolicy(config, networks[agent], getattr(
                population, "skill", None), [agent], (world.height, world.width))
    return Cast("referential_v0", world, per_agent(policies), str(run_dir))


CURVES = ("episodes", {"success": "success", "held-out success": "success_heldout",
                       "topographic similarity": "topsim", "CIC (nats)": "cic"})
"""What ``socius plot`` overlays for several language runs: x key, panel title -> key."""
FINAL = ("success", "success_heldout", "topsim", "cic")
"""The ``evaluation.json`` figures a grid tabulates for each cell."""


def heatmap_figures(run_dir: str | Path) -> dict:
    """Cross-play (from ``evaluation.json``) and token usage by attribute value (played
    from the last checkpoint) as ``cross_play.png`` and ``token_usage.png``."""
    path, figures = Path(run_dir), {}
    evaluation = path / "evaluation.json"
    cross = json.loads(evaluation.read_text()).get("cross_play") if evaluation.is_file() else None
    if cross:
        save_figure(matrix_heatmap(np.array(cross), "cross-play success", "listener", "speaker",
                                   label="success", vmin=0, vmax=1), path / "cross_play.png")
        figures["cross_play"] = str(path / "cross_play.png")
    if not RunDirectory(run_dir).has_checkpoint():
        return figures
    config, population = load_population(run_dir)
    if not config.world.message_length:
        return figures
    episodes = play_evaluation(config, population, "train", random_pairs(config, config.seed),
                               config.seed)
    usage = token_usage(episodes.speaker["goal"][0].numpy(), episodes.tokens[0].numpy(),
                        config.world.vocab_size)  # [attribute, value, token]
    labels = [f"{name} {value}" for name in ("colour", "shape")
              for value in range(usage.shape[1])]
    rows = usage.reshape(-1, config.world.vocab_size)
    seen = ~np.isnan(rows).all(axis=1)
    save_figure(matrix_heatmap(rows[seen], "share of each token by the target's attribute value",
                               "token", "target attribute",
                               yticks=[lab for lab, s in zip(labels, seen) if s],
                               label="share of tokens", vmin=0, vmax=1), path / "token_usage.png")
    figures["token_usage"] = str(path / "token_usage.png")
    return figures


def legacy(saved: dict) -> dict:
    """An older flat config: its listener saw the whole room (view radius room_size - 1)."""
    return {**saved, "view_radius": saved.get("room_size", 5) - 1}


EXPERIMENT = Experiment(
    name="language", description="a population learns to talk (referential_v0, multi-agent PPO)",
    config_class=LanguageConfig, default_config="language", train=train,
    evaluate=evaluate_run, plot=plot, progress_key="round",
    summary_keys=("success", "success_heldout", "chance"), curves=CURVES, final=FINAL,
    load_policy=load_policy, legacy=legacy)
"""The language experiment's record in the registry."""
