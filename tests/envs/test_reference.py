"""The batched core against the slow reference world, step by step, on random episodes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from configurations import CONFIGURATIONS, config_id
from reference_world import UNKNOWN, ReferenceEnv, make_spec

from socius.envs import ENVIRONMENTS, core
from socius.envs.settings import configure

DTYPES = {"view": np.uint8, "others": np.int32, "inbox": np.int32, "goal": np.int32,
          "goal_mask": np.int8, "position": np.int32, "action_mask": np.int8}

OWN_CASES = [
    ("referential_v0", {"num_agents": 6, "message_length": 3, "view_radius": 2,
                        "max_cycles": 12}),
    ("referential_v0", {"num_agents": 6, "message_length": 0, "view_radius": 0,
                        "room_size": 3, "num_objects": 4}),
    ("referential_v0", {"num_agents": 6, "view_radius": 1,
                        "max_others": 2, "room_size": 4}),
    ("referential_v0", {"num_agents": 8, "view_radius": 2,
                        "max_others": 5, "num_objects": 5}),
    ("referential_v0", {"num_agents": 4, "held_out": ((0, 1), (2, 3)), "split": "train",
                        "num_objects": 6, "n_colours": 3, "n_shapes": 4}),
    ("referential_v0", {"num_agents": 4, "speak_first": False, "timeout_cost": 0.5,
                        "max_cycles": 6}),
    ("referential_v0", {"num_agents": 2, "contrast": "all", "timeout_cost": 0.25,
                        "num_objects": 5, "held_out": ((0, 0), (1, 1)), "split": "train"}),
    ("referential_v0", {"n_colours": 8, "n_shapes": 8, "held_out": tuple((i, i) for i in
                                                                          range(8)),
                        "split": "test", "num_objects": 4, "max_cycles": 4}),
    ("goal_cycle_v1", {"num_agents": 4, "num_obstacles": 6, "size": 8, "max_cycles": 40,
                       "message_length": 1, "num_tiles": 4, "penalty": 2.5}),
    ("goal_cycle_v1", {"num_agents": 2, "size": 5, "num_tiles": 2, "view_radius": 0,
                       "hearing_radius": 0, "reveal_order": True, "resample_order": False}),
    ("goal_cycle_v0", {"num_agents": 4, "num_obstacles": 10, "size": 8, "max_cycles": 40,
                       "message_length": 2, "hearing_radius": -1, "penalty": 0.75}),
    ("goal_cycle_v0", {"num_agents": 5, "num_obstacles": 6, "size": 7, "view_radius": 0,
                       "hearing_radius": 0, "message_length": 1, "num_tiles": 4,
                       "resample_order": False, "max_others": 3}),
    ("goal_cycle_v0", {"num_agents": 3, "size": 5, "num_tiles": 2, "view_radius": 3,
                       "hearing_radius": 3, "reveal_order": True, "max_cycles": 30,
                       "message_length": 2, "penalty": 0.0}),
    ("maze_v0", {"layout": "four_rooms", "size": 9, "num_agents": 3, "view_radius": 1,
                 "hearing_radius": -1, "message_length": 2, "max_cycles": 40}),
    ("maze_v0", {"layout": "maze", "size": 7, "num_layouts": 3, "num_agents": 2,
                 "max_cycles": 30, "message_length": 1, "hearing_radius": 1}),
    ("maze_v0", {"layout": "open", "size": 6, "num_agents": 4, "start": (2, 2),
                 "view_radius": 2, "max_cycles": 25, "message_length": 1}),
    ("maze_v0", {"layout": "t_maze", "size": 2, "num_agents": 2, "max_cycles": 15,
                 "view_radius": 1, "hearing_radius": 1, "message_length": 1}),
    ("maze_v0", {"layout": "t_maze", "size": 3, "noisy_tv": True, "max_cycles": 12}),
    ("maze_v0", {"layout": "four_rooms", "size": 7, "num_agents": 2, "noisy_tv": True,
                 "max_cycles": 30, "view_radius": 3, "hearing_radius": 3}),
    ("maze_v0", {"layout": "open", "size": 9, "num_agents": 20, "max_others": 6,
                 "message_length": 2, "hearing_radius": 1, "max_cycles": 40}),
    ("maze_v0", {"layout": "open", "size": 9, "num_agents": 20, "view_radius": 0,
                 "hearing_radius": 0, "max_cycles": 30, "message_length": 1}),
    ("maze_v0", {"layout": "open", "size": 9, "num_agents": 17, "view_radius": 1,
                 "max_others": 12, "hearing_radius": -1, "message_length": 1,
                 "max_cycles": 30}),
]
CASES = CONFIGURATIONS + OWN_CASES


def build(task: str, overrides: dict):
    """The core's world and the reference's spec of one configuration."""
    module = ENVIRONMENTS[task]
    config = configure(module.CONFIG, dict(overrides))
    world = module.build_world(config)
    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return world, make_spec(task, settings)


def grid_planes(world, state, b: int) -> np.ndarray:
    """Environment ``b``'s unpadded grid as planes ``[C, H, W]`` (terrain, colour, shape, ...)."""
    pad, height, width = world.pad, world.height, world.width
    padded = (height + 2 * pad, width + 2 * pad)
    cells = state.cells[b]
    if cells.shape[1:] != padded:  # channels-last storage [H+2r, W+2r, C]
        assert cells.shape[:2] == padded, cells.shape
        cells = np.moveaxis(cells, -1, 0)
    return cells[:, pad:pad + height, pad:pad + width]


def reference_from_core(spec, world, state, b: int) -> ReferenceEnv:
    """A reference environment holding environment ``b`` of a core state, as plain lists."""
    grid = grid_planes(world, state, b)
    task = {}
    if spec.task == "goal_cycle_v0":
        task = {"order": state.task["order"][b].tolist(),
                "progress": state.task["progress"][b].tolist()}
    if spec.task == "goal_cycle_v1":
        task = {"tile_cells": list(zip(state.task["tile_row"][b].tolist(),
                                       state.task["tile_col"][b].tolist())),
                "successor": state.task["successor"][b].tolist(),
                "last": state.task["last"][b].tolist()}
    return ReferenceEnv(
        spec, terrain=grid[0].tolist(), colour=grid[1].tolist(), shape=grid[2].tolist(),
        tile=grid[3].tolist(),
        rows=state.row[b].tolist(), cols=state.col[b].tolist(), goals=state.goal[b].tolist(),
        finished=state.finished[b].tolist(), last_move=state.last_move[b].tolist(),
        last_message=state.last_message[b].tolist(), step_count=int(state.step_count[b]),
        **task)


def random_actions(world, rng: np.random.Generator, num_envs: int) -> np.ndarray:
    """Uniform moves and tokens: int64 ``[B, N, 1 + L]``."""
    agents, length = world.num_agents, world.config.message_length
    moves = rng.integers(0, 5, (num_envs, agents, 1))
    tokens = (rng.integers(0, world.config.vocab_size, (num_envs, agents, length))
              if length else np.zeros((num_envs, agents, 0), np.int64))
    return np.concatenate([moves, tokens], axis=-1)


def assert_same(label: str, expected, actual) -> None:
    """Exact equality of a reference value (lists) and a core array, naming the first mismatch."""
    actual = np.asarray(actual)
    expected = np.array(expected, dtype=actual.dtype if actual.dtype.kind == "f" else np.int64)
    if expected.size == 0 and actual.size == 0:
        return
    assert expected.shape == actual.shape, f"{label}: shape {actual.shape} != {expected.shape}"
    wrong = np.argwhere(expected != actual)
    assert wrong.size == 0, (f"{label}: first mismatch at {tuple(wrong[0])}: reference "
                             f"{expected[tuple(wrong[0])]}, core {actual[tuple(wrong[0])]} "
                             f"({len(wrong)} mismatches)")


def assert_observation(spec, label: str, expected: dict, actual: dict) -> None:
    """Every key of one environment's observation ``[N, ...]`` equals the reference's."""
    assert set(actual) == set(DTYPES), f"{label}: keys {sorted(actual)}"
    for key, dtype in DTYPES.items():
        assert actual[key].dtype == dtype, f"{label}: {key} dtype {actual[key].dtype}"
        value = actual[key]
        if key == "view":
            reference = np.array(expected[key], dtype=np.int64)
            unknown = reference == UNKNOWN
            if unknown.any():  # the noisy TV: any object at all
                high = np.broadcast_to(np.array([0, spec.n_colours, spec.n_shapes, 0, 0])
                                       [None, :, None, None], value.shape)
                assert ((value[unknown] >= 1) & (value[unknown] <= high[unknown])).all(), label
                reference[unknown] = value[unknown]
            expected = dict(expected, view=reference)
        assert_same(f"{label} {key}", expected[key], value)


class Lockstep:
    """A core batch and one reference environment per slot, stepped and compared together."""

    def __init__(self, task: str, overrides: dict, seed: int, num_envs: int):
        self.world, self.spec = build(task, overrides)
        self.label = f"{task}{overrides} seed={seed} B={num_envs}"
        self.state, observation = core.reset(self.world, seed, num_envs)
        self.references = [self.sync(b) for b in range(num_envs)]
        self.steps = 0
        self.resets = 0
        for b, reference in enumerate(self.references):
            assert_observation(self.spec, f"{self.label} reset env {b}", reference.observe(),
                               {k: v[b] for k, v in observation.items()})

    def sync(self, b: int) -> ReferenceEnv:
        """A reference copy of environment ``b``, after checking its fresh episode."""
        reference = reference_from_core(self.spec, self.world, self.state, b)
        problems = reference.start_problems()
        assert not problems, f"{self.label} env {b} start: {problems}"
        return reference

    def delivered(self, actions: np.ndarray):
        """Tokens the core delivered (channel noise is random), or None without noise."""
        config = self.world.config
        if config.message_length == 0 or (config.token_drop_prob == 0
                                          and config.token_replace_prob == 0):
            return None
        raw, _ = core.step(self.world, self.state, actions, auto_reset=False)
        heard = raw.last_message
        spoken = actions[..., 1:]
        assert ((heard == spoken) | (heard == -1)
                | ((heard >= 0) & (heard < config.vocab_size))).all()
        if config.token_drop_prob == 0:
            assert (heard >= 0).all()
        if config.token_replace_prob == 0:
            assert ((heard == spoken) | (heard == -1)).all()
        return heard

    def step(self, actions: np.ndarray) -> None:
        """Step the core and every reference environment, and compare everything."""
        self.steps += 1
        label = f"{self.label} step {self.steps}"
        delivered = self.delivered(actions)
        self.state, result = core.step(self.world, self.state, actions)
        ended = []
        for b, reference in enumerate(self.references):
            heard = None if delivered is None else delivered[b].tolist()
            outcome = reference.step(actions[b].tolist(), delivered=heard)
            where = f"{label} env {b}"
            assert_same(f"{where} reward", outcome["reward"], result.reward[b])
            assert_same(f"{where} goal_achieved", outcome["goal_achieved"],
                        result.goal_achieved[b])
            assert_same(f"{where} achieved_goal", outcome["achieved_goal"],
                        result.achieved_goal[b])
            assert_same(f"{where} desired_goal", outcome["desired_goal"], result.desired_goal[b])
            for key, value in outcome.get("info", {}).items():
                assert_same(f"{where} info {key}", value, result.info[key][b])
            assert set(result.info) == set(outcome.get("info", {})), f"{where} info keys"
            assert bool(result.terminated[b]) == outcome["terminated"], f"{where} terminated"
            assert bool(result.truncated[b]) == outcome["truncated"], f"{where} truncated"
            if outcome["terminated"] or outcome["truncated"]:
                ended.append(b)
        assert result.final_index.tolist() == ended, label
        for d, b in enumerate(ended):
            final = {k: v[d] for k, v in result.final_observation.items()}
            assert_observation(self.spec, f"{label} env {b} final",
                               self.references[b].observe(), final)
            self.references[b] = self.sync(b)
            self.resets += 1
        for b, reference in enumerate(self.references):
            assert_observation(self.spec, f"{label} env {b}", reference.observe(),
                               {k: v[b] for k, v in result.observation.items()})


@pytest.mark.parametrize("num_envs", [1, 3])
@pytest.mark.parametrize("entry", CASES, ids=[config_id(c) for c in CASES])
def test_core_matches_reference(entry, num_envs):
    task, overrides = entry
    seed = 1000 + CASES.index(entry)
    lockstep = Lockstep(task, overrides, seed, num_envs)
    rng = np.random.default_rng(seed)
    for _ in range(120):
        lockstep.step(random_actions(lockstep.world, rng, num_envs))
    assert lockstep.steps == 120


def test_reference_sees_episodes_end():
    """The lockstep run really crosses episode boundaries (so final observations are checked)."""
    lockstep = Lockstep("referential_v0", {"num_agents": 4, "max_cycles": 6}, 7, 3)
    rng = np.random.default_rng(7)
    for _ in range(40):
        lockstep.step(random_actions(lockstep.world, rng, 3))
    assert lockstep.resets >= 3 * (40 // 6)
