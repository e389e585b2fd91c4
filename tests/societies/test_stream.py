"""The engine's stream: auto-reset, carried state, seats in order, arenas side by side."""

from __future__ import annotations

import numpy as np
import torch

from socius.envs.settings import configure
from socius.societies.engine.stream import Arena, Stream
from socius.societies.engine.stream import play as play_stream
from socius.societies.imitation.config import ImitationConfig, make_arenas
from socius.societies.imitation.rollout import ABSENT, Experts, FirstSeat
from socius.societies.language import train as language
from socius.societies.language.config import LanguageConfig

ROOM = ["world.room_size=3", "world.view_radius=2", "world.num_objects=2", "world.contrast=none"]


def language_setup(seed: int = 0):
    config = configure(LanguageConfig, {"num_envs": 16, "population": 3}, ROOM)
    world = language.make_world(config, "train")
    generator = torch.Generator().manual_seed(seed)
    population = language.make_population(config, world, generator)
    pairing = np.random.default_rng(seed)
    stream = language.start_stream(config, world, language.schedule(config, pairing))
    return config, population, stream, generator, language.draw_members(config, pairing)


def test_two_calls_carry_on_exactly_where_one_long_call_goes():
    config, population, stream, generator, draw = language_setup()
    whole, _ = language.play(config, population, stream, 12, generator, draw)
    config, population, stream, generator, draw = language_setup()
    first, stream = language.play(config, population, stream, 5, generator, draw)
    second, _ = language.play(config, population, stream, 7, generator, draw)
    for name in ("moves", "rewards", "tokens", "values"):
        joined = torch.cat([getattr(first, name), getattr(second, name)])
        assert torch.equal(joined, getattr(whole, name)), name
    assert np.array_equal(np.concatenate([first.members, second.members]), whole.members)
    assert torch.equal(torch.cat([first.ends, second.ends]), whole.ends)
    # A decision is handed over once, in the call its episode ends.
    assert len(first.decisions.members) + len(second.decisions.members) == whole.episodes


def test_auto_reset_keeps_every_world_live_and_reseats_only_ended_episodes():
    config, population, stream, generator, draw = language_setup()
    record, _ = language.play(config, population, stream, 30, generator, draw)
    assert record.alive.all() and record.episodes > config.num_envs
    changed = np.any(record.members[1:] != record.members[:-1], axis=-1)
    # Members change only in a world whose episode ended the step before.
    assert not (changed & ~record.ends[:-1].numpy()).any() and changed.any()


def test_without_auto_reset_each_world_plays_one_episode_then_waits():
    config, population, stream, generator, _ = language_setup()
    record, after = language.play(config, population, stream, config.world.max_cycles,
                                  generator, auto_reset=False)
    assert (record.ends.sum(0) == 1).all()  # every world ended exactly once
    ended_at = record.ends.int().argmax(0)
    steps = torch.arange(record.ends.shape[0])[:, None]
    assert torch.equal(record.alive, steps <= ended_at)
    assert (record.rewards[~record.alive] == 0).all()
    assert np.array_equal(after.members, stream.members)


def test_arenas_of_different_worlds_step_side_by_side_and_later_seats_overrule():
    config = configure(ImitationConfig, {"num_envs": 8, "expert_dropout": 0.25,
                                         "world": {"max_cycles": 12}})
    arenas = [Arena.open(world, 3 + index, count)
              for index, (world, count) in enumerate(make_arenas(config, 8, dropout=0.25))]
    assert [a.world.num_agents for a in arenas] == [3, 1]
    walker = FirstSeat("random", walker_seed=3)
    record, after = play_stream(Stream(arenas, np.full((8, 1), -1)),
                                (Experts(arenas[0].world, 3), walker), 12, None, auto_reset=False)
    assert record.rewards.shape == (12, 8) and record.expert_distance.shape == (12, 8, 2)
    # The walker's moves, not the experts' advice, reached agent_0 of every world.
    moved = np.concatenate([arena.state.last_move[:, 0] for arena in after.arenas])
    assert np.array_equal(moved, record.moves[-1].numpy())
    assert not torch.equal(record.moves, record.expert_moves)
    # A world without experts records them as absent, never in view.
    assert (record.expert_distance[:, 6:] == ABSENT).all()
    assert (record.expert_distance[:, :6] < ABSENT).all()
