"""Library adapters: SB3 VecEnvs (native and SuperSuit) and a goal-conditioned Gymnasium env.

- ``sb3_vec_env``: every agent of ``n_copies`` copies of a task as one SB3 ``VecEnv``
  that steps all copies in one core call (``socius.envs.sb3_env``). Copy i plays the
  episodes of a standalone env reset with ``seed + i``, and ``PPO(seed=...)`` works.
- ``supersuit_vec_env``: the same layout and seeds through SuperSuit
  (``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1``), the generic path any
  PettingZoo env can take; one Python env per copy.
- ``goal_env``: one learner of a task as a ``gymnasium.Env`` with the ``observation`` /
  ``achieved_goal`` / ``desired_goal`` Dict that SB3's ``HerReplayBuffer`` reads.

SuperSuit and SB3 are optional (``socius[sb3]``), so they are imported inside functions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from socius.envs import ENVIRONMENTS, TASKS, core
from socius.envs.facade import LazyRendering
from socius.envs.moves import NUM_MOVES
from socius.envs.settings import configure
from socius.envs.spaces import OBSERVATION_KEYS, observation_bounds
from socius.envs.world import World

GOAL_KEYS = ("goal", "goal_mask")
"""Keys left out of a goal env's ``observation``: the goal travels in ``desired_goal``,
and HER relabels that key only."""


def task_module(name: str):
    """The versioned module ``socius.envs.<name>``; ValueError for an unknown name."""
    if name not in ENVIRONMENTS:
        raise ValueError(f"name must be one of {TASKS}; got {name!r}")
    return ENVIRONMENTS[name]


def sb3_vec_env(name: str, n_copies: int, seed: int, **config: Any):
    """SB3 VecEnv over every agent of ``n_copies`` copies of task ``name``, stepped in one
    core call; copy i uses ``seed + i`` (``config`` configures the world; ``flatten``
    defaults to True)."""
    from socius.envs.sb3_env import NativeVecEnv

    module = task_module(name)
    check_copies_and_seed(n_copies, seed)
    config.setdefault("flatten", True)
    world = module.build_world(configure(module.CONFIG, config))
    return NativeVecEnv(world, n_copies, int(seed))


def check_copies_and_seed(n_copies, seed) -> None:
    """Raise ValueError naming ``n_copies`` or ``seed`` unless they are integers >= 1, >= 0."""
    if isinstance(n_copies, bool) or not isinstance(n_copies, int) or n_copies < 1:
        raise ValueError(f"n_copies must be an integer >= 1; got {n_copies!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")


def supersuit_vec_env(name: str, n_copies: int, seed: int, **config: Any):
    """``sb3_vec_env``'s VecEnv through SuperSuit, one Python env per copy (the generic
    PettingZoo path; ``config`` goes to ``parallel_env``; ``flatten`` defaults to True)."""
    import supersuit

    module = task_module(name)
    check_copies_and_seed(n_copies, seed)
    config.setdefault("flatten", True)
    parallel = module.parallel_env(**config)
    check_shared_spaces(parallel)
    markov = supersuit.pettingzoo_env_to_vec_env_v1(parallel)
    # The gymnasium base is kept: its reset(seed) already gives copy i the seed seed + i,
    # which SuperSuit's own SB3 adapter never passes on.
    concatenated = supersuit.concat_vec_envs_v1(markov, n_copies, num_cpus=0,
                                                base_class="gymnasium")
    vec_env = seeded_sb3_wrapper_class()(concatenated)
    vec_env.seed(int(seed))
    return vec_env


def check_shared_spaces(parallel) -> None:
    """Raise ValueError naming the agents whose observation or action space differs from
    the first agent's (SuperSuit stacks agents, so they must share both spaces)."""
    first = parallel.possible_agents[0]
    for kind in ("observation_space", "action_space"):
        reference = getattr(parallel, kind)(first)
        differing = [agent for agent in parallel.possible_agents
                     if getattr(parallel, kind)(agent) != reference]
        if differing:
            raise ValueError(
                f"every agent must share one {kind} to be stacked into a VecEnv; agents "
                f"{differing} differ from {first!r} ({reference}); pad them first, e.g. "
                f"with supersuit.pad_observations_v0 / pad_action_space_v0")


@functools.cache
def seeded_sb3_wrapper_class() -> type:
    """SuperSuit's SB3 adapter with a working ``seed``: the next ``reset`` reseeds copy i
    with ``seed + i`` (SuperSuit's version raises, which breaks ``PPO(seed=...)``)."""
    from supersuit.vector.sb3_vector_wrapper import SB3VecEnvWrapper

    class SeededSB3VecEnv(SB3VecEnvWrapper):
        """SB3 VecEnv over a SuperSuit ``ConcatVecEnv`` that seeds copy i with seed + i."""

        def __init__(self, venv):
            super().__init__(venv)
            self.pending_seed: int | None = None

        def seed(self, seed: int | None = None) -> list[int | None]:
            """Seed the next reset: copy i then starts episode 0 of ``seed + i``."""
            self.pending_seed = None if seed is None else int(seed)
            copies = len(self.venv.vec_envs)
            return [None if seed is None else int(seed) + i for i in range(copies)]

        def reset(self, seed: int | None = None, options: dict | None = None):
            """Reset every copy (reseeding them if ``seed`` or a pending seed is set)."""
            if seed is not None:
                self.seed(seed)
            observations, self.reset_infos = self.venv.reset(seed=self.pending_seed,
                                                             options=options)
            self.pending_seed = None
            return observations

    return SeededSB3VecEnv


class SociusGoalEnv(LazyRendering, gymnasium.Env):
    """One learner agent of a socius world as a goal-conditioned ``gymnasium.Env``.

    ``observation`` is the learner's flat int32 observation of ``observation_keys`` (every
    key but ``goal``/``goal_mask`` by default); ``achieved_goal``/``desired_goal`` are the
    task's goals (maze: the agent's cell and the goal cell). Other agents stand still
    ('stay'), act uniformly at random from a generator keyed on (seed, episode)
    ('random'), or follow ``others({agent: observation dict}) -> {agent: action}``.

    Reward is the sparse goal reward of ``compute_reward``: 0 when ``achieved_goal``
    equals ``desired_goal``, else -1; the episode terminates on success (or when the
    world itself terminates) and is truncated at ``max_cycles``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, world: World, agent_index: int, others: str | Callable,
                 observation_keys: tuple[str, ...], render_mode: str | None = None):
        self.world = world
        self.agent_index = agent_index
        self.others = others
        self.observation_keys = observation_keys
        self.render_mode = render_mode
        bounds = observation_bounds(world)
        observation_low = np.concatenate(
            [bounds[key][0].ravel().astype(np.int32) for key in observation_keys])
        observation_high = np.concatenate(
            [bounds[key][1].ravel().astype(np.int32) for key in observation_keys])
        goal_high = max(world.height - 1, world.width - 1, world.goal_high)
        goal_shape = (world.task.achieved_size,)
        goal_space = gymnasium.spaces.Box(-1, goal_high, shape=goal_shape, dtype=np.int32)
        self.observation_space = gymnasium.spaces.Dict({
            "observation": gymnasium.spaces.Box(observation_low, observation_high,
                                                dtype=np.int32),
            "achieved_goal": goal_space,
            "desired_goal": gymnasium.spaces.Box(-1, goal_high, shape=goal_shape,
                                                 dtype=np.int32),
        })
        length = world.config.message_length
        self.action_space = (gymnasium.spaces.Discrete(NUM_MOVES) if length == 0 else
                             gymnasium.spaces.MultiDiscrete(
                                 [NUM_MOVES] + [world.config.vocab_size] * length))
        self._seed: int | None = None
        self._episode = -1
        self._state = None
        self._observation = None
        self._others_generator: np.random.Generator | None = None
        self._last_actions: np.ndarray | None = None

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray:
        """Sparse goal reward, 0 where the goals match on every entry else -1: float32
        ``[...]`` for goals ``[..., Ga]`` (single or batched; ``info`` is unused)."""
        achieved, desired = np.asarray(achieved_goal), np.asarray(desired_goal)
        if achieved.shape != desired.shape:
            raise ValueError(f"achieved_goal and desired_goal must have the same shape; "
                             f"got {achieved.shape} and {desired.shape}")
        return np.all(achieved == desired, axis=-1).astype(np.float32) - np.float32(1.0)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; a new seed restarts the episode counter (as in the facade)."""
        super().reset(seed=seed)
        if seed is not None or self._seed is None:
            self._seed = int(seed) if seed is not None else int(
                self.np_random.integers(2**62))
            self._episode = 0
        else:
            self._episode += 1
        self._state, self._observation = core.reset(self.world, self._seed, 1,
                                                    episode=self._episode)
        self._others_generator = np.random.default_rng([self._seed, self._episode])
        self._last_actions = None
        achieved, desired = (goals[0, self.agent_index]
                             for goals in core.start_goals(self.world, self._state))
        return self._goal_observation(achieved, desired), {"is_success": 0.0,
                                                            "goal_achieved": 0.0}

    def step(self, action):
        """Apply the learner's action (others act by ``others``); reward by compute_reward."""
        if self._state is None:
            raise ValueError("step() needs reset() first")
        actions = self._other_actions()
        actions[0, self.agent_index] = np.asarray(action, dtype=np.int64).reshape(-1)
        self._state, result = core.step(self.world, self._state, actions, auto_reset=False)
        self._observation = result.observation
        self._last_actions = actions[0]
        achieved = result.achieved_goal[0, self.agent_index]
        desired = result.desired_goal[0, self.agent_index]
        observation = self._goal_observation(achieved, desired)
        success = bool(np.all(achieved == desired))
        info = {"is_success": float(success),
                "goal_achieved": float(result.goal_achieved[0, self.agent_index])}
        reward = float(self.compute_reward(observation["achieved_goal"],
                                           observation["desired_goal"], info))
        terminated = success or bool(result.terminated[0])
        truncated = bool(result.truncated[0]) and not terminated
        return observation, reward, terminated, truncated, info

    def render(self):
        """An RGB array of the world (``render_mode='rgb_array'``), else None."""
        if self.render_mode is None or self._state is None:
            return None
        return self._frame(self.world, self._state, self._last_actions)

    def _goal_observation(self, achieved: np.ndarray, desired: np.ndarray) -> dict:
        flat = np.concatenate([self._observation[key][0, self.agent_index].ravel()
                               .astype(np.int32) for key in self.observation_keys])
        return {"observation": flat, "achieved_goal": achieved.astype(np.int32).copy(),
                "desired_goal": desired.astype(np.int32).copy()}

    def _other_actions(self) -> np.ndarray:
        """int64 ``[1, N, 1 + L]``: the other agents' actions (the learner's row is filled
        by the caller)."""
        world = self.world
        width = 1 + world.config.message_length
        actions = np.zeros((1, world.num_agents, width), dtype=np.int64)
        if self.others == "stay" or world.num_agents == 1:
            return actions
        if self.others == "random":
            high = world.info["action_high"]
            actions[0] = self._others_generator.integers(0, high, size=(world.num_agents, width))
            return actions
        observations = {name: {key: value[0, j] for key, value in self._observation.items()}
                        for j, name in enumerate(world.agent_names)}
        chosen = self.others(observations)
        for name, action in chosen.items():
            if name not in world.agent_names:
                raise ValueError(f"others returned an action for unknown agent {name!r}; "
                                 f"expected some of {world.agent_names}")
            actions[0, world.agent_names.index(name)] = np.asarray(action, np.int64).reshape(-1)
        return actions


def seat_problem(world: World, index: int) -> str | None:
    """Why agent ``index`` cannot be a goal env's learner (None if it can): it must move to
    achieve anything, and may be handed only a goal it is allowed to see."""
    name = world.agent_names[index]
    if not world.embodied[index]:
        return f"{name} cannot move, so it can achieve no goal"
    if not world.goal_visible[index].all():
        return (f"{name} may not see its goal (goal_mask is 0: it must infer the goal, e.g. "
                "from a message, an expert or a cue), yet a goal env would hand it over as "
                "desired_goal")
    return None


def goal_env(name: str, agent: str | None = None, others: str | Callable = "stay",
             observation_keys: tuple[str, ...] | None = None,
             render_mode: str | None = None, **config: Any) -> SociusGoalEnv:
    """Goal-conditioned single-learner ``gymnasium.Env`` of task ``name`` (see SociusGoalEnv);
    ``others`` is 'stay', 'random' or a callable {agent: observation} -> {agent: action}."""
    module = task_module(name)
    if "flatten" in config:
        raise ValueError("flatten is not a goal_env option: the goal env always gives a flat "
                         "'observation' Box; choose its keys with observation_keys")
    presented = sorted(set(config) & {"flat_dtype", "joint_actions", "action_mask", "mask_in"})
    if presented:
        raise ValueError(f"{presented} are not goal_env options: the goal env has its own "
                         "layout (a flat int32 'observation', Discrete moves or MultiDiscrete "
                         "[move, tokens], no mask)")
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array'; got {render_mode!r}")
    world = module.parallel_env(**config).world
    names = world.agent_names
    seatable = [n for i, n in enumerate(names) if seat_problem(world, i) is None]
    if agent is None:
        if not seatable:
            raise ValueError(f"no agent of {name} can be seated in a goal env: "
                             f"{seat_problem(world, 0)}")
        agent = seatable[0]
    if agent not in names:
        raise ValueError(f"agent must be one of {list(names)}; got {agent!r}")
    problem = seat_problem(world, names.index(agent))
    if problem is not None:
        raise ValueError(f"agent {agent!r} cannot be seated in a goal env of {name}: "
                         f"{problem}; seat one of {seatable} instead" if seatable else
                         f"agent {agent!r} cannot be seated in a goal env of {name}: {problem}")
    if not (callable(others) or others in ("stay", "random")):
        raise ValueError(f"others must be 'stay', 'random' or a callable mapping every "
                         f"agent's observation to actions; got {others!r}")
    allowed = tuple(key for key in OBSERVATION_KEYS if key not in GOAL_KEYS)
    if observation_keys is None:
        observation_keys = allowed
    observation_keys = tuple(observation_keys)
    unknown = [key for key in observation_keys if key not in allowed]
    if unknown or not observation_keys:
        raise ValueError(f"observation_keys must be a non-empty subset of {allowed} (the goal "
                         f"is given as desired_goal); got {observation_keys!r}")
    return SociusGoalEnv(world, names.index(agent), others, observation_keys,
                         render_mode=render_mode)
