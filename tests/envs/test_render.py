"""Pygame frames show the world's state, change with it, and never break pickling."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pickle  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from socius.envs import goal_cycle_v0, maze_v0, referential_v0  # noqa: E402
from socius.envs.render import Renderer, grid_cells, object_colour, role_colour  # noqa: E402
from socius.envs.state import COLOUR, SHAPE  # noqa: E402

MODULES = {"referential_v0": referential_v0, "goal_cycle_v0": goal_cycle_v0, "maze_v0": maze_v0}


def make_env(name="referential_v0", **config):
    env = MODULES[name].parallel_env(render_mode="rgb_array", **config)
    observation, _ = env.reset(seed=0)
    return env, observation


def stay_actions(env, token=0):
    return {a: np.array([0] + [token] * env.world.config.message_length) for a in env.agents}


def cell_pixels(frame, renderer, row, col):
    """The [cell, cell, 3] block of ``frame`` covering grid cell (row, col)."""
    x, y = renderer.cell_centre(row, col)
    half = renderer.cell_size // 2
    return frame[y - half:y + half, x - half:x + half]


def share_of(block, colour):
    return float(np.all(block == np.array(colour, dtype=np.uint8), axis=-1).mean())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_frame_is_rgb_and_sized_by_the_grid(name):
    env, _ = make_env(name)
    frame = env.render()
    world = env.world
    renderer = Renderer(world)
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert (frame.shape[1], frame.shape[0]) == renderer.size
    grid_width = world.width * renderer.cell_size
    assert frame.shape[0] >= world.height * renderer.cell_size + renderer.header_height
    panel = 0 if world.embodied.all() else renderer.panel_width
    assert frame.shape[1] == grid_width + panel
    assert frame.std() > 10, "a frame should not be one flat colour"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_embodied_agents_are_drawn_in_their_role_colour(name):
    env, _ = make_env(name)
    frame = env.render()
    renderer, world, state = Renderer(env.world), env.world, env._core_state
    for agent in np.flatnonzero(world.embodied):
        block = cell_pixels(frame, renderer, state.row[0, agent], state.col[0, agent])
        assert share_of(block, role_colour(int(world.agent_role[agent]))) > 0.2
    empty = cell_pixels(frame, renderer, 0, 0)  # a border wall
    for role in range(len(world.role_names)):
        assert share_of(empty, role_colour(role)) == 0


def test_objects_are_drawn_in_their_colour_with_distinct_glyphs():
    env, _ = make_env(n_colours=8, n_shapes=8, num_objects=20, room_size=6)
    frame = env.render()
    renderer, state = Renderer(env.world), env._core_state
    cells = grid_cells(env.world, state, 0)
    occupied = {(int(r), int(c)) for r, c in zip(state.row[0], state.col[0], strict=True)}
    masks: dict[int, list[np.ndarray]] = {}
    for r, c in zip(*np.nonzero(cells[..., COLOUR]), strict=True):
        if (r, c) in occupied:
            continue
        colour = object_colour(int(cells[r, c, COLOUR]) - 1)
        block = cell_pixels(frame, renderer, r, c)
        assert share_of(block, colour) > 0.1
        mask = np.all(block == np.array(colour, dtype=np.uint8), axis=-1)
        masks.setdefault(int(cells[r, c, SHAPE]), []).append(mask)
    assert len(masks) >= 6
    representative = {shape: group[0] for shape, group in masks.items()}
    for shape, group in masks.items():
        assert all(np.array_equal(group[0], mask) for mask in group), "one shape, one glyph"
        for other, mask in representative.items():
            assert other == shape or not np.array_equal(representative[shape], mask)


def test_palette_has_enough_distinct_colours():
    colours = {object_colour(i) for i in range(12)}
    assert len(colours) == 12
    assert len({role_colour(i) for i in range(8)}) == 8


@pytest.mark.parametrize("name, config", [("referential_v0", {"view_radius": 1}),
                                          ("goal_cycle_v0", {}), ("maze_v0", {})])
def test_frame_changes_only_near_a_moving_agent(name, config):
    env, _ = make_env(name, **config)
    observation, *_ = env.step(stay_actions(env))
    before = env.render()
    world, state = env.world, env._core_state
    agent = int(np.flatnonzero(world.embodied)[0])
    name_of = world.agent_names[agent]
    move = int(np.flatnonzero(observation[name_of]["action_mask"][1:])[0]) + 1
    old = (int(state.row[0, agent]), int(state.col[0, agent]))
    actions = stay_actions(env)
    actions[name_of] = np.array([move] + [0] * world.config.message_length)
    env.step(actions)
    after = env.render()
    new = (int(env._core_state.row[0, agent]), int(env._core_state.col[0, agent]))
    assert new != old
    renderer = Renderer(world)
    colour = role_colour(int(world.agent_role[agent]))
    assert share_of(cell_pixels(after, renderer, *new), colour) > 0.2
    assert share_of(cell_pixels(after, renderer, *old), colour) < 0.05

    changed_rows, changed_cols = np.nonzero(np.any(before != after, axis=-1))
    in_grid = changed_rows >= renderer.header_height
    assert in_grid.any()
    size, reach = renderer.cell_size, world.config.view_radius + 1
    grid_row = (changed_rows[in_grid] - renderer.header_height) // size
    grid_col = changed_cols[in_grid] // size
    distance = np.minimum(
        np.maximum(abs(grid_row - old[0]), abs(grid_col - old[1])),
        np.maximum(abs(grid_row - new[0]), abs(grid_col - new[1])))
    assert distance.max() <= reach


def test_speakers_and_their_tokens_appear_in_the_side_panel():
    env, _ = make_env()
    before = env.render()
    renderer = Renderer(env.world)
    panel_left = env.world.width * renderer.cell_size
    speaker = int(np.flatnonzero(~env.world.embodied)[0])
    panel = before[renderer.header_height:, panel_left:]
    assert share_of(panel, role_colour(int(env.world.agent_role[speaker]))) > 0
    env.step(stay_actions(env, token=3))
    after = env.render()
    assert np.any(before[renderer.header_height:, panel_left:]
                  != after[renderer.header_height:, panel_left:])


def test_drawing_neither_steps_nor_changes_the_state():
    env, _ = make_env()
    env.step(stay_actions(env, token=1))
    state = env._core_state
    copies = {k: np.copy(v) for k, v in vars(state).items() if isinstance(v, np.ndarray)}
    first, second = env.render(), env.render()
    assert np.array_equal(first, second)
    for key, value in copies.items():
        assert np.array_equal(getattr(state, key), value), key
    assert env._core_state is state


def test_env_pickles_after_render_and_draws_the_same_frame():
    env, _ = make_env()
    frame = env.render()
    assert pickle.loads(pickle.dumps(Renderer(env.world))).mode == "rgb_array"
    clone = pickle.loads(pickle.dumps(env))
    assert np.array_equal(clone.render(), frame)
    env.close()
    clone.close()


def test_human_mode_runs_headless():
    pygame = pytest.importorskip("pygame")
    env = referential_v0.parallel_env(render_mode="human")
    env.reset(seed=0)
    env.step(stay_actions(env, token=2))
    assert env.render() is None
    assert pygame.display.get_surface() is not None
    env.close()
    assert not pygame.display.get_init()


def test_bad_mode_is_rejected():
    env, _ = make_env()
    with pytest.raises(ValueError, match="mode"):
        Renderer(env.world, mode="ascii")


def test_grid_cells_reads_both_grid_layouts():
    env, _ = make_env()
    state, world = env._core_state, env.world
    expected = grid_cells(world, state, 0)
    cells = np.asarray(state.cells)
    other = np.moveaxis(cells, -1, 1) if cells.shape[1:3] == world.padded_shape \
        else np.moveaxis(cells, 1, -1)
    assert np.array_equal(grid_cells(world, types.SimpleNamespace(cells=other), 0), expected)
    assert expected.shape[:2] == (world.height, world.width)


def test_render_takes_the_mode_it_was_made_with_and_refuses_another():
    env, _ = make_env("maze_v0")
    assert env.render("rgb_array").shape == env.render().shape  # RLlib passes the mode
    with pytest.raises(ValueError, match="disagrees with render_mode='rgb_array'"):
        env.render("human")
