"""The ``socius`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from socius import configs
from socius.envs import ENVIRONMENTS, registry_id
from socius.envs.config import describe
from socius.envs.goal_cycle_v1 import GoalCycleV1Config
from socius.envs.settings import configure
from socius.societies.experiments import EXPERIMENTS, experiment, experiment_of
from socius.societies.imitation import bounds as cycle_bounds
from socius.societies.language import bounds as code_bounds
from socius.societies.runs.grid import expand, sweep
from socius.societies.runs.overlay import overlay
from socius.societies.runs.tensorboard import export
from socius.societies.viewer.demo import run_demo
from socius.societies.viewer.play import play, screenshot, seat_of
from socius.societies.viewer.record import record
from socius.societies.viewer.replay import replay
from socius.societies.viewer.seating import cast_for


def list_environments(verbose: bool = True) -> str:
    """A table of every environment and its parameters."""
    lines = []
    for name, module in ENVIRONMENTS.items():
        doc = (module.__doc__ or "").strip().splitlines()[0]
        lines.append(f"{name}  (PettingZoo id: {registry_id(name)})")
        lines.append(f"  {doc}")
        if verbose:
            for field, default, text in describe(module.CONFIG):
                lines.append(f"    {field:<20} {default!r:<14} {text}")
        lines.append("")
    return "\n".join(lines)


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
    for name, entry in EXPERIMENTS.items():
        options = experiments.add_parser(name, help=entry.description)
        options.add_argument("--config", default=entry.default_config,
                             help=f"a shipped config name or a YAML file (default: "
                                     f"{entry.default_config or 'the config class defaults'})")
        options.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                             help="override a config field, e.g. seed=1 or "
                                     "world.max_cycles=20 (nested fields by dots)")
        options.add_argument("--seeds", type=int, default=1,
                             help="seeds 0..N-1, one run each")
        options.add_argument("--out", default=f"runs/{name}",
                             help="run directory (with several seeds: <out>-seed<S>; "
                                     "with --grid: <out>/<key>=<value>-seed<S>)")
        options.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                             help="sweep a config field over values (repeatable: every "
                                     "combination x every seed, one run each; table and "
                                     "plot in <out>/grid.md, grid.png)")
        options.add_argument("--workers", type=int, default=None,
                             help="local worker processes (default: min(runs, cores))")
        options.add_argument("--ray", default=None, metavar="ADDRESS",
                             help="run on the Ray cluster at ADDRESS (default: "
                                     "$RAY_ADDRESS when set; needs socius[ray])")
        options.add_argument("--retries", type=int, default=1,
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
    play.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
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
    record.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
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
    report = commands.add_parser("report", help="summarise finished runs as a markdown table")
    report.add_argument("experiment", choices=[name for name, entry in EXPERIMENTS.items()
                                               if entry.report is not None])
    report.add_argument("run_dirs", nargs="+")
    report.add_argument("--plot", default=None, help="also save figures here (gcrl: a PNG "
                                                      "bar plot; collect: a path prefix)")
    bound = commands.add_parser("bounds", help="the bound table of a fair task: scripted "
                                               "policies that lack the capability under test")
    bound.add_argument("task", choices=["referential_v0", "goal_cycle_v1"])
    bound.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                       help="override a world setting, e.g. num_tiles=6 or contrast=none")
    bound.add_argument("--episodes", type=int, default=500, help="episodes per seed")
    bound.add_argument("--seeds", type=int, default=3, help="evaluation seeds 0..N-1")
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
        if args.episodes < 1:
            parser.error("--episodes must be >= 1")
        result = run_demo(args.env, args.out, episodes=args.episodes, seed=args.seed)
        print(f"recorded {result.episodes} episodes of {args.env} with scripted experts "
              f"to {result.gif} (mean return {result.mean_return:.2f})")
        print(f"benchmark: {args.env} vector API, B=1024, random actions: "
              f"{result.agent_steps_per_second:,.0f} agent-steps/s")
        return 0
    if args.command == "run":
        if args.seeds < 1:
            parser.error("--seeds must be >= 1")
        record = experiment(args.experiment)
        base = configs.load(args.config) if args.config else {}
        trials = expand(record, base, args.set, args.grid, args.seeds, args.out)
        outcomes = sweep(trials, args.out, workers=args.workers, retries=args.retries,
                         ray_address=args.ray or os.environ.get("RAY_ADDRESS"))
        return 0 if all(outcome.result is not None for outcome in outcomes) else 1
    if args.command == "tensorboard":
        print(json.dumps({"events": str(export(args.run_dir)),
                          "view": f"tensorboard --logdir {Path(args.run_dir) / 'tensorboard'}"}))
        return 0
    if args.command in ("play", "replay", "record"):
        return _viewer(args)
    if args.command == "plot" and (len(args.run_dirs) > 1 or args.out):
        print(json.dumps(overlay(args.run_dirs, args.out or "overlay.png")))
        return 0
    if args.command == "plot":
        args.run_dir = args.run_dirs[0]
    if args.command in ("resume", "plot", "evaluate"):
        record = experiment_of(args.run_dir)
        action = {"resume": record.resume, "plot": record.plot,
                  "evaluate": record.evaluate_run}[args.command]
        print(json.dumps(action(args.run_dir)))
        return 0
    if args.command == "bounds":
        if args.episodes < 1 or args.seeds < 1:
            parser.error("--episodes and --seeds must be >= 1")
        bounds = code_bounds if args.task == "referential_v0" else cycle_bounds
        base = code_bounds.BOUND_WORLD if args.task == "referential_v0" else GoalCycleV1Config()
        config = configure(base, overrides=args.set)
        table = bounds.bound_table(config, tuple(range(args.seeds)), args.episodes)
        print(bounds.format_table(config, table))
        return 0
    if args.command == "report":
        print(experiment(args.experiment).report(args.run_dirs, args.plot))
        return 0
    return 2


def _viewer(args: argparse.Namespace) -> int:
    """``socius play``, ``replay`` and ``record``."""
    if args.command == "replay":
        session = replay(args.file)
        print(json.dumps({"episodes": len(session.episodes), "env": session.world.name}))
        return 0
    if args.command == "record":
        print(json.dumps(record(args.target, args.out, episodes=args.episodes, seed=args.seed,
                                policy=args.policy, overrides=args.set, fps=args.fps,
                                dataset=args.dataset)))
        return 0
    cast = cast_for(args.target, args.policy, args.set)
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
