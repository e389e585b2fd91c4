"""The ``socius`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from socius.envs import ENVIRONMENTS
from socius.envs.config import describe


def list_environments(verbose: bool = True) -> str:
    """A table of every environment and its parameters."""
    lines = []
    for name, module in ENVIRONMENTS.items():
        doc = (module.__doc__ or "").strip().splitlines()[0]
        lines.append(f"{name}  (PettingZoo id: {module_registry_id(name)})")
        lines.append(f"  {doc}")
        if verbose:
            for field, default, text in describe(module.CONFIG):
                lines.append(f"    {field:<20} {default!r:<14} {text}")
        lines.append("")
    return "\n".join(lines)


def module_registry_id(name: str) -> str:
    """The registry id of an environment name."""
    from socius.envs import registry_id

    return registry_id(name)


RUN_EXPERIMENTS = {
    "language": ("a population learns to talk (referential_v0, multi-agent PPO)", "language"),
    "imitation": ("a recurrent learner learns from experts in view (goal_cycle_v0)",
                  "imitation"),
    "collect": ("a collector gathers data by information gain (maze_v0 with a noisy TV)",
                "collect"),
}
"""Experiments run from a config: name -> (help, default shipped config)."""


def experiment_module(name: str):
    """The module holding an experiment's config_from, run, resume, plot and evaluate_run."""
    modules = {"language": "socius.societies.language.experiment",
               "imitation": "socius.societies.imitation.experiment",
               "collect": "socius.societies.collection.experiment"}
    if name not in modules:
        raise ValueError(f"unknown experiment {name!r}; expected one of {sorted(modules)}")
    return importlib.import_module(modules[name])


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``socius`` console script."""
    parser = argparse.ArgumentParser(prog="socius", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show the environments and their parameters")
    listing.add_argument("--brief", action="store_true", help="names only")
    demo = commands.add_parser("demo", help="record scripted episodes to a GIF, then a "
                                            "benchmark line")
    demo.add_argument("--env", default="referential_v0", choices=sorted(ENVIRONMENTS))
    demo.add_argument("--out", default="socius_demo.gif", help="GIF path")
    demo.add_argument("--episodes", type=int, default=3)
    demo.add_argument("--seed", type=int, default=0)
    run = commands.add_parser("run", help="run an experiment")
    experiments = run.add_subparsers(dest="experiment", required=True)
    gcrl = experiments.add_parser("gcrl", help="offline goal-conditioned RL in a maze")
    gcrl.add_argument("--agent", default="hier", choices=["hier", "hiql", "flat", "gcbc"])
    gcrl.add_argument("--steps", type=int, default=50_000, help="gradient steps")
    gcrl.add_argument("--seed", type=int, default=0)
    gcrl.add_argument("--data", default="noisy", choices=["random", "noisy", "both"])
    gcrl.add_argument("--out", default=None, help="run directory (metrics.jsonl, checkpoint)")
    gcrl.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                      help="override a run field (size=15) or a learner field "
                           "(learner.temperature=5)")
    for name, (summary, default_config) in RUN_EXPERIMENTS.items():
        experiment = experiments.add_parser(name, help=summary)
        experiment.add_argument("--config", default=default_config,
                                help=f"a shipped config name or a YAML file "
                                     f"(default: {default_config})")
        experiment.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                                help="override a config field, e.g. seed=1")
        experiment.add_argument("--seeds", type=int, default=1,
                                help="seeds 0..N-1, one run each")
        experiment.add_argument("--out", default=f"runs/{name}",
                                help="run directory (with several seeds: <out>-seed<S>; "
                                     "with --grid: <out>/<key>=<value>-seed<S>)")
        experiment.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                                help="sweep a config field over values (repeatable: every "
                                     "combination x every seed, one run each; table and "
                                     "plot in <out>/grid.md, grid.png)")
        experiment.add_argument("--workers", type=int, default=None,
                                help="local worker processes (default: min(runs, cores))")
        experiment.add_argument("--ray", default=None, metavar="ADDRESS",
                                help="run on the Ray cluster at ADDRESS (default: "
                                     "$RAY_ADDRESS when set; needs socius[ray])")
        experiment.add_argument("--retries", type=int, default=1,
                                help="times a failed run is retried from its checkpoint")
    resume = commands.add_parser("resume", help="continue a killed run from its checkpoint")
    resume.add_argument("run_dir")
    plot = commands.add_parser("plot", help="plot a run's metrics (PNGs in the run directory), "
                                            "or overlay several runs' curves with seed bands")
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                      help="run directories; <name>-seed<S> are seeds of one condition")
    plot.add_argument("--out", default=None,
                      help="overlay figure (default: the run's own figures for one run, "
                           "overlay.png for several)")
    viewer = "a pygame window; keys are listed in the window's side panel"
    play = commands.add_parser("play", help=f"play a world with the keyboard ({viewer})")
    play.add_argument("target", metavar="ENV|RUN_DIR",
                      help="an environment, or a language, imitation or gcrl run (its world "
                           "and its trained agents)")
    play.add_argument("--agent", default=None,
                      help="the agent the keyboard controls, by name or index, or 'none' to "
                           "watch (default: the first agent in the room; a run is watched)")
    play.add_argument("--policy", default="scripted",
                      help="who plays the other agents: scripted, random or a run directory")
    play.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                      help="world settings, e.g. size=9 num_agents=3")
    play.add_argument("--seed", type=int, default=0)
    play.add_argument("--realtime", action="store_true",
                      help="run at the chosen speed instead of waiting for each move")
    play.add_argument("--screenshot", default=None, metavar="PNG",
                      help="no window: play --steps steps headless and save the screen")
    play.add_argument("--steps", type=int, default=10, help="steps before --screenshot")
    replay = commands.add_parser("replay", help=f"scrub through recorded episodes ({viewer})")
    replay.add_argument("file", help="a dataset (.npz) written by socius, e.g. a collect run's "
                                     "dataset.npz or one saved by 'socius record --dataset'")
    record = commands.add_parser("record", help="play episodes headless and write a video")
    record.add_argument("target", metavar="ENV|RUN_DIR")
    record.add_argument("--out", required=True, help="file.gif, or file.mp4 (socius[video])")
    record.add_argument("--episodes", type=int, default=2)
    record.add_argument("--seed", type=int, default=0)
    record.add_argument("--policy", default="scripted",
                        help="scripted, random or a run directory (for an ENV target)")
    record.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="world settings (for an ENV target)")
    record.add_argument("--fps", type=float, default=6)
    record.add_argument("--dataset", default=None,
                        help="also save the episodes as a dataset (.npz) for 'socius replay'")
    evaluate = commands.add_parser("evaluate", help="evaluate a run's last checkpoint "
                                                    "(every measure of its experiment)")
    evaluate.add_argument("run_dir")
    board = commands.add_parser("tensorboard", help="write a run's metrics as TensorBoard "
                                                    "events (RUN_DIR/tensorboard)")
    board.add_argument("run_dir")
    memory = experiments.add_parser("memory", help="t-maze: recurrent cloning vs no memory")
    memory.add_argument("--seed", type=int, default=0)
    memory.add_argument("--steps", type=int, default=800, help="gradient steps")
    report = commands.add_parser("report", help="summarise finished runs as a markdown table")
    report.add_argument("experiment", choices=["gcrl", "collect"])
    report.add_argument("run_dirs", nargs="+")
    report.add_argument("--plot", default=None, help="also save figures here (gcrl: a PNG "
                                                      "bar plot; collect: a path prefix)")
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except ValueError as error:
        # Bad configs, run directories and checkpoints raise ValueError naming the field
        # and what was expected: say that, not a traceback.
        parser.exit(2, f"socius: error: {error}\n")


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command ``args`` names."""
    if args.command == "list":
        print(list_environments(verbose=not args.brief))
        return 0
    if args.command == "demo":
        from socius.societies.viewer.demo import run_demo

        if args.episodes < 1:
            parser.error("--episodes must be >= 1")
        result = run_demo(args.env, args.out, episodes=args.episodes, seed=args.seed)
        print(f"recorded {result.episodes} episodes of {args.env} with scripted experts "
              f"to {result.gif} (mean return {result.mean_return:.2f})")
        print(f"benchmark: {args.env} vector API, B=1024, random actions: "
              f"{result.agent_steps_per_second:,.0f} agent-steps/s")
        return 0
    if args.command == "run" and args.experiment == "gcrl":
        from socius.societies.navigation.gcrl import config_from_overrides, train

        overrides = [f"learner.agent={args.agent}", f"steps={args.steps}", f"seed={args.seed}",
                     f"data={args.data}", *args.set]
        config = config_from_overrides(overrides)
        out = args.out or f"runs/gcrl-{args.agent}-seed{args.seed}"
        report = train(config, out=out)
        print(json.dumps(report))
        return 0
    if args.command == "run" and args.experiment in RUN_EXPERIMENTS:
        import os

        from socius.configs import load
        from socius.societies.runs.grid import expand, sweep

        if args.seeds < 1:
            parser.error("--seeds must be >= 1")
        trials = expand(args.experiment, experiment_module(args.experiment), load(args.config),
                        args.set, args.grid, args.seeds, args.out)
        outcomes = sweep(trials, args.out, workers=args.workers, retries=args.retries,
                         ray_address=args.ray or os.environ.get("RAY_ADDRESS"))
        return 0 if all(outcome.result is not None for outcome in outcomes) else 1
    if args.command == "tensorboard":
        from socius.societies.runs.tensorboard import export

        print(json.dumps({"events": str(export(args.run_dir)),
                          "view": f"tensorboard --logdir {Path(args.run_dir) / 'tensorboard'}"}))
        return 0
    if args.command in ("play", "replay", "record"):
        return _viewer(args)
    if args.command == "plot" and (len(args.run_dirs) > 1 or args.out):
        from socius.societies.runs.overlay import overlay

        print(json.dumps(overlay(args.run_dirs, args.out or "overlay.png")))
        return 0
    if args.command == "plot":
        args.run_dir = args.run_dirs[0]
    if args.command in ("resume", "plot", "evaluate"):
        from socius.societies.runs.directory import RunDirectory

        module = experiment_module(RunDirectory(args.run_dir).experiment())
        action = {"resume": module.resume, "plot": module.plot,
                  "evaluate": module.evaluate_run}[args.command]
        print(json.dumps(action(args.run_dir)))
        return 0
    if args.command == "run" and args.experiment == "memory":
        from socius.societies.navigation.memory import MemoryRunConfig, run

        print(json.dumps(run(MemoryRunConfig(seed=args.seed, steps=args.steps))))
        return 0
    if args.command == "report" and args.experiment == "collect":
        from socius.societies.collection.experiment import summarize

        print(summarize(args.run_dirs, figures=args.plot))
        return 0
    if args.command == "report":
        from socius.societies.navigation.gcrl import summarize_runs

        print(summarize_runs(args.run_dirs, plot=args.plot))
        return 0
    return 2


def _viewer(args: argparse.Namespace) -> int:
    """``socius play``, ``replay`` and ``record``."""
    from socius.societies.viewer import cast as viewing

    if args.command == "replay":
        from socius.societies.viewer.replay import replay

        session = replay(args.file)
        print(json.dumps({"episodes": len(session.episodes), "env": session.world.name}))
        return 0
    settings = viewing.parse_settings(args.set)
    if args.command == "record":
        print(json.dumps(viewing.record(args.target, args.out, episodes=args.episodes,
                                        seed=args.seed, policy=args.policy, settings=settings,
                                        fps=args.fps, dataset=args.dataset)))
        return 0
    from socius.societies.viewer.play import play, screenshot, seat_of

    cast = viewing.cast_for(args.target, args.policy, settings)
    if args.screenshot:
        screenshot(cast, args.screenshot, args.steps, seat=seat_of(cast, args.agent or "none"),
                   seed=args.seed)
        print(json.dumps({"screenshot": args.screenshot, "env": cast.env_name}))
        return 0
    session = play(cast, seat=seat_of(cast, args.agent), seed=args.seed, realtime=args.realtime)
    print(json.dumps({"steps": len(session.states) - 1, "env": cast.env_name,
                      "return": session.returns.round(3).tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
