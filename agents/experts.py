"""The scripted expert of each task, in one place: the viewer's default seat-mate, the
imitation experiment's experts and the calibrations read it from here."""

from __future__ import annotations

from socius.agents.cycle_policies import CycleV1Expert
from socius.agents.scripted import CycleExpert, GoalSeeker, ReferentialExpert
from socius.envs.world import World


def scripted_expert(world: World):
    """The scripted expert of a task."""
    if world.name == "referential_v0":
        return ReferentialExpert(world)
    if world.name == "goal_cycle_v0":
        return CycleExpert(world.config.message_length)
    if world.name == "goal_cycle_v1":
        return CycleV1Expert(world.config.message_length)
    return GoalSeeker(world.config.message_length)
