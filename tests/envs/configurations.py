"""Task x configuration pairs that every API and correctness test runs over."""

from __future__ import annotations

CONFIGURATIONS = [
    ("referential_v0", {}),
    ("referential_v0", {"num_agents": 6, "message_length": 0}),
    ("referential_v0", {"num_agents": 4, "message_length": 3, "vocab_size": 5,
                        "token_drop_prob": 0.2, "token_replace_prob": 0.2, "flatten": True}),
    ("referential_v0", {"held_out": ((0, 0), (1, 2)), "split": "test"}),
    ("goal_cycle_v0", {}),
    ("goal_cycle_v0", {"num_agents": 4, "message_length": 2, "num_obstacles": 5,
                       "view_radius": 1, "hearing_radius": 1, "reveal_order": True}),
    ("referential_v0", {"joint_actions": True, "action_mask": "full", "mask_in": "info",
                        "timeout_cost": 0.5}),
    ("referential_v0", {"action_mask": "components", "mask_in": "wrapped", "flatten": True,
                        "flat_dtype": "float32", "speak_first": False}),
    ("referential_v0", {"n_colours": 8, "n_shapes": 8, "held_out": tuple((i, i) for i in
                                                                          range(8)),
                        "split": "test", "contrast": "test"}),
    ("goal_cycle_v1", {}),
    ("goal_cycle_v1", {"num_agents": 2, "message_length": 1, "joint_actions": True,
                       "action_mask": "full", "mask_in": "wrapped"}),
    ("maze_v0", {}),
    ("maze_v0", {"mask_in": "wrapped", "flatten": True, "flat_dtype": "float32"}),
    ("maze_v0", {"layout": "maze", "size": 15, "num_layouts": 3, "noisy_tv": True}),
    ("maze_v0", {"layout": "open", "size": 12, "num_agents": 20, "message_length": 1}),
    ("maze_v0", {"layout": "t_maze", "size": 4}),
    ("maze_v0", {"layout": "four_rooms", "size": 13, "start": (1, 1), "num_agents": 3,
                 "view_radius": 0, "hearing_radius": 0}),
]


def config_id(entry) -> str:
    """Readable pytest id of a configuration."""
    name, kwargs = entry
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())
