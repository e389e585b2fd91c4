"""Properties of the batched core on random configurations, seeds and actions (hypothesis)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_reference import CASES, Lockstep, build, grid_planes, random_actions

from socius.envs import core
from socius.envs.spaces import observation_space, present
from socius.envs.state import take

# More examples on demand, e.g. SOCIUS_PROPERTY_EXAMPLES=1000 for a long bug hunt.
EXAMPLES = int(os.environ.get("SOCIUS_PROPERTY_EXAMPLES", "30"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def episodes(draw, max_envs: int = 4, max_steps: int = 25):
    """A configuration with short episodes, a seed, a batch size and per-env actions."""
    task, overrides = draw(st.sampled_from(CASES))
    overrides = {**overrides, "max_cycles": draw(st.integers(2, 8))}
    world, _ = build(task, overrides)
    num_envs = draw(st.integers(1, max_envs))
    steps = draw(st.integers(1, max_steps))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    actions = [random_actions(world, rng, num_envs) for _ in range(steps)]
    return world, draw(st.integers(0, 2**31 - 1)), num_envs, actions


def run(world, seed, num_envs, actions, env_index=None, auto_reset=True):
    """[(state, observation or StepResult)] of a whole run."""
    state, observation = core.reset(world, seed, num_envs, env_index)
    trajectory = [(state, observation)]
    for batch_actions in actions:
        state, result = core.step(world, state, batch_actions, auto_reset=auto_reset)
        trajectory.append((state, result))
    return trajectory


def env_slice(state, outcome, b: int) -> dict:
    """Everything a step (or reset) says about environment ``b``, as named arrays."""
    fields = {f"state.{f.name}": getattr(state, f.name)[b] for f in dataclasses.fields(state)
              if f.name != "task"}
    fields.update({f"task.{name}": value[b] for name, value in state.task.items()})
    if isinstance(outcome, dict):
        fields.update({f"obs.{k}": v[b] for k, v in outcome.items()})
        return fields
    fields.update({f"obs.{k}": v[b] for k, v in outcome.observation.items()})
    for name in ("reward", "terminated", "truncated", "goal_achieved", "achieved_goal",
                 "desired_goal"):
        fields[name] = getattr(outcome, name)[b]
    ended = np.flatnonzero(outcome.final_index == b)
    fields["ended"] = np.array(ended.size > 0)
    if ended.size:
        fields.update({f"final.{k}": v[ended[0]] for k, v in outcome.final_observation.items()})
    return fields


def assert_slices_equal(label: str, first: dict, second: dict) -> None:
    """Same keys, dtypes, shapes and values, bit for bit."""
    assert first.keys() == second.keys(), f"{label}: {first.keys() ^ second.keys()}"
    for key, value in first.items():
        other = second[key]
        assert value.dtype == other.dtype and value.shape == other.shape, f"{label} {key}"
        assert np.array_equal(value, other), f"{label} {key}: {value} != {other}"


def snapshot(state) -> dict:
    """Copies of every array of a state."""
    arrays = {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.name != "task"}
    arrays.update({f"task.{name}": value for name, value in state.task.items()})
    return {name: np.array(value, copy=True) for name, value in arrays.items()}


@PROPERTY
@given(episodes(max_envs=4), st.data())
def test_environment_plays_the_same_in_any_batch(episode, data):
    world, seed, num_envs, actions = episode
    big = num_envs + data.draw(st.integers(1, 3))
    rng = np.random.default_rng(seed)
    extra = [random_actions(world, rng, big - num_envs) for _ in actions]
    big_actions = [np.concatenate([a, e]) for a, e in zip(actions, extra)]
    small_run = run(world, seed, num_envs, actions)
    big_run = run(world, seed, big, big_actions)
    alone = data.draw(st.integers(0, big - 1))
    alone_run = run(world, seed, 1, [a[alone:alone + 1] for a in big_actions],
                    env_index=np.array([alone]))
    for t, ((s_small, o_small), (s_big, o_big), (s_alone, o_alone)) in enumerate(
            zip(small_run, big_run, alone_run)):
        for b in range(num_envs):
            assert_slices_equal(f"step {t} env {b}", env_slice(s_small, o_small, b),
                                env_slice(s_big, o_big, b))
        assert_slices_equal(f"step {t} env {alone} alone", env_slice(s_alone, o_alone, 0),
                            env_slice(s_big, o_big, alone))


@PROPERTY
@given(episodes())
def test_same_seed_and_actions_give_identical_runs_and_inputs_are_untouched(episode):
    world, seed, num_envs, actions = episode
    first = run(world, seed, num_envs, actions)
    second = run(world, seed, num_envs, actions)
    for t, ((s1, o1), (s2, o2)) in enumerate(zip(first, second)):
        for b in range(num_envs):
            assert_slices_equal(f"step {t} env {b}", env_slice(s1, o1, b), env_slice(s2, o2, b))
    for t, batch_actions in enumerate(actions):
        state = first[t][0]
        before, actions_before = snapshot(state), batch_actions.copy()
        core.step(world, state, batch_actions)
        assert_slices_equal(f"state given to step {t}", before, snapshot(state))
        assert np.array_equal(actions_before, batch_actions)


@PROPERTY
@given(episodes())
def test_reset_of_one_environment_leaves_the_others_untouched(episode):
    world, seed, num_envs, actions = episode
    state, _ = core.reset(world, seed, num_envs)
    for t, batch_actions in enumerate(actions):
        new_state, result = core.step(world, state, batch_actions)
        kept_state, kept = core.step(world, state, batch_actions, auto_reset=False)
        assert kept.final_index.size == 0 and kept.final_observation is None
        assert np.array_equal(kept.terminated | kept.truncated,
                              np.isin(np.arange(num_envs), result.final_index))
        for b in range(num_envs):
            label = f"step {t} env {b}"
            alone_state, alone = core.step(world, take(state, np.array([b])),
                                           batch_actions[b:b + 1])
            assert_slices_equal(label, env_slice(new_state, result, b),
                                env_slice(alone_state, alone, 0))
            ended = np.flatnonzero(result.final_index == b)
            if not ended.size:
                after_kept = env_slice(kept_state, kept, b)
                after_kept["ended"] = np.array(False)
                assert_slices_equal(f"{label} (no auto-reset)", env_slice(new_state, result, b),
                                    after_kept)
                continue
            final = {f"obs.{k}": v[ended[0]] for k, v in result.final_observation.items()}
            assert_slices_equal(f"{label} final", {f"obs.{k}": v[b] for k, v in
                                                   kept.observation.items()}, final)
            fresh_state, fresh_obs = core.reset(world, seed, 1, env_index=np.array([b]),
                                                episode=int(state.episode[b]) + 1)
            assert_slices_equal(f"{label} fresh", env_slice(fresh_state, fresh_obs, 0),
                                env_slice(new_state, dict(result.observation), b))
        state = new_state


def observation_spaces(world):
    """The observation space the world's config presents."""
    return observation_space(world)


def assert_in_space(world, space, label: str, observation: dict) -> None:
    """Every agent's presented observation lies in the observation space, key by key (the
    Dict's keys, the wrapped layout's two, or the flat Box whole)."""
    shown, _ = present(world, observation)

    def check(box, value, where):
        if hasattr(box, "spaces"):
            for key, inner in box.spaces.items():
                check(inner, value[key], f"{where} {key}")
        else:
            assert box.contains(value), f"{where}: {value}"

    def agent(value, b, i):
        return ({key: agent(item, b, i) for key, item in value.items()}
                if isinstance(value, dict) else value[b, i])

    for b in range(observation["position"].shape[0]):
        for i in range(world.num_agents):
            check(space, agent(shown, b, i), f"{label} env {b} agent {i}")


@PROPERTY
@given(episodes())
def test_observations_lie_in_the_observation_space(episode):
    world, seed, num_envs, actions = episode
    spaces = observation_spaces(world)
    trajectory = run(world, seed, num_envs, actions)
    assert_in_space(world, spaces, "reset", trajectory[0][1])
    for t, (_, result) in enumerate(trajectory[1:]):
        assert_in_space(world, spaces, f"step {t}", result.observation)
        if result.final_index.size:
            assert_in_space(world, spaces, f"step {t} final", result.final_observation)


def assert_grid_consistent(world, state, label: str) -> None:
    """On-grid agents stand on free terrain, one per cell, matching the occupant grid."""
    pad = world.pad
    for b in range(state.batch_size):
        terrain = grid_planes(world, state, b)[0]
        seen = {}
        for i in range(world.num_agents):
            row, col = int(state.row[b, i]), int(state.col[b, i])
            assert (row >= 0) == bool(world.embodied[i]), f"{label} env {b} agent {i} at {row}"
            if row < 0:
                assert col < 0
                continue
            assert terrain[row, col] == 0, f"{label} env {b} agent {i} in a wall at {row, col}"
            assert (row, col) not in seen, f"{label} env {b} agents {seen[row, col]}, {i} overlap"
            seen[row, col] = i
        expected = np.full(state.occupant[b].shape, -1)  # padding included
        for (row, col), i in seen.items():
            expected[row + pad, col + pad] = i
        assert np.array_equal(state.occupant[b], expected), f"{label} env {b} occupant grid"
        expected = expected[pad:pad + world.height, pad:pad + world.width]
        planes = grid_planes(world, state, b)
        if planes.shape[0] > 4:  # the agent plane mirrors the occupants
            roles = np.where(expected >= 0, world.agent_role[np.maximum(expected, 0)] + 1, 0)
            assert np.array_equal(planes[4], roles), f"{label} env {b} agent plane"


@PROPERTY
@given(episodes())
def test_moves_never_enter_walls_or_other_agents(episode):
    world, seed, num_envs, actions = episode
    for t, (state, _) in enumerate(run(world, seed, num_envs, actions)):
        assert_grid_consistent(world, state, f"step {t}")


@PROPERTY
@given(episodes())
def test_masked_moves_never_change_position(episode):
    world, seed, num_envs, actions = episode
    trajectory = run(world, seed, num_envs, actions)
    for t, batch_actions in enumerate(actions):
        before = trajectory[t][1]
        before = before if isinstance(before, dict) else before.observation
        result = trajectory[t + 1][1]
        after = result.observation["position"].copy()
        if result.final_index.size:
            after[result.final_index] = result.final_observation["position"]
        moves = batch_actions[..., 0]
        mask = np.take_along_axis(before["action_mask"], moves[..., None], axis=-1)[..., 0]
        blocked = (moves != 0) & (mask == 0)
        assert np.array_equal(after[blocked], before["position"][blocked]), f"step {t}"
        assert (before["action_mask"][..., 0] == 1).all()


@st.composite
def drawn_configs(draw):
    """(task, overrides) drawn across each task's parameters, valid or rejected by assume."""
    task = draw(st.sampled_from(["referential_v0", "goal_cycle_v0", "goal_cycle_v1",
                                 "maze_v0"]))
    view = draw(st.integers(0, 3))
    length = draw(st.integers(0, 3))
    common = {"view_radius": view, "hearing_radius": draw(st.integers(-1, view)),
              "max_others": draw(st.integers(0, 6)), "message_length": length,
              "vocab_size": draw(st.integers(1, 5)), "max_cycles": draw(st.integers(1, 12)),
              "n_colours": draw(st.integers(1, 4)), "n_shapes": draw(st.integers(1, 4))}
    if task == "referential_v0":
        common["hearing_radius"] = -1  # speakers are off the grid: only the group channel
        extra = {"num_agents": 2 * draw(st.integers(1, 5)), "room_size": draw(st.integers(2, 5)),
                 "num_objects": draw(st.integers(1, 4)), "speak_first": draw(st.booleans()),
                 "timeout_cost": draw(st.sampled_from([0.0, 0.3])),
                 "contrast": draw(st.sampled_from(["none", "test", "all"]))}
    elif task in ("goal_cycle_v0", "goal_cycle_v1"):
        extra = {"num_agents": draw(st.integers(1, 6)), "size": draw(st.integers(4, 8)),
                 "num_tiles": draw(st.integers(1, 4)), "num_obstacles": draw(st.integers(0, 6)),
                 "penalty": draw(st.sampled_from([0.0, 0.5, 1.0, 2.25])),
                 "reveal_order": draw(st.booleans()), "resample_order": draw(st.booleans())}
    else:
        layout = draw(st.sampled_from(["four_rooms", "maze", "open", "t_maze"]))
        size = draw(st.integers(2, 5) if layout == "t_maze" else st.integers(5, 10))
        extra = {"layout": layout, "size": size, "num_agents": draw(st.integers(1, 20)),
                 "noisy_tv": draw(st.booleans()), "num_layouts": draw(st.integers(1, 3)),
                 "layout_seed": draw(st.integers(0, 5))}
    return task, {**common, **extra}


@PROPERTY
@given(drawn_configs(), st.integers(0, 2**31 - 1), st.integers(1, 3))
def test_core_matches_reference_on_drawn_configs(entry, seed, num_envs):
    task, overrides = entry
    try:
        build(task, overrides)
    except ValueError:
        assume(False)
    lockstep = Lockstep(task, overrides, seed, num_envs)
    rng = np.random.default_rng(seed)
    for _ in range(25):
        lockstep.step(random_actions(lockstep.world, rng, num_envs))
