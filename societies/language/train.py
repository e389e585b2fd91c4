"""Emergent language in ``referential_v0``, top to bottom: a population of speakers and
listeners trained by multi-agent PPO, with the message channel learned one of two ways.

    socius run language --set channel=gumbel rounds=1000

1. **Population.** ``population`` speakers and as many listeners, each with its own
   network. Every round a seeded schedule pairs them at random, one pair per environment.
2. **Round.** Every environment plays one whole episode (``max_cycles`` steps) through the
   pure core. The speaker sees the target ``(colour, shape)`` and decides once per episode:
   one message, repeated every step. The listener sees the room and, from step 1 on, that
   message.
3. **Update.** PPO on the round's episodes (independent learners, shared reward, GAE).
   - ``channel=rl``: the message is an action, trained by the policy gradient.
   - ``channel=gumbel`` (DIAL-style): during the update the message is rebuilt as a
     straight-through Gumbel-Softmax sample with the noise that drew it, so its value is
     exactly what the listener heard, and the listener's loss backpropagates into the
     speaker. The speaker gets no policy-gradient term.
   - ``signalling_weight``: a positive-signalling bias (after Eccles et al. 2019) makes each
     speaker's messages tell its goals apart; it says nothing about which message means
     what, which the pair must still settle through play.
   - ``critic=central``: centralised training with one critic per listener seat that reads
     the room and the target (what ``state()`` holds); decentralised acting is unchanged.
4. **Evaluation** (``socius.societies.language.evaluate``): success on training and held-out
   targets, interventions, CIC, topographic similarity, cross-play.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from socius.agents.modules import AgentNetwork, ObservationSpec, pad_silence
from socius.agents.ppo import clipped_surrogate, gae, normalise
from socius.envs import core, spaces
from socius.envs.config import make_config, require
from socius.envs.referential_v0 import CONFIG as REFERENTIAL_CONFIG
from socius.envs.referential_v0 import build_world
from socius.societies.engine.population import Population, PopulationConfig, pairing_schedule
from socius.societies.runs.directory import RunDirectory, open_run

SPEAKER, LISTENER, CRITIC = 0, 1, 2
ROLES = ("speaker", "listener")  # the roles that play; a central critic rides with a listener
MEMBER_ROLES = ROLES + ("critic",)


@dataclass(frozen=True)
class LanguageConfig:
    """One language run: the world, the population, the channel and PPO."""

    seed: int = 0
    """Seed of the worlds, the weights, the schedule and the samples."""
    rounds: int = 1000
    """PPO updates; each plays one episode in every environment."""
    num_envs: int = 256
    """Environments (speaker-listener pairs) per round."""
    channel: str = "gumbel"
    """How messages are learned: gumbel (differentiable, DIAL-style) or rl (policy gradient)."""
    population: int = 4
    """Speakers, and as many listeners, paired at random every round."""
    replace_every: int = 0
    """Rounds between replacing the oldest speaker and listener by fresh ones (0: never)."""
    room_size: int = 5
    """Side of the room (the listener sees all of it)."""
    num_objects: int = 3
    """Objects K in the room; chance is 1/K."""
    vocab_size: int = 8
    """Tokens V."""
    message_length: int = 2
    """Tokens L per message; 0 is the mute-channel control."""
    max_cycles: int = 10
    """Steps per episode."""
    held_out: tuple = ((0, 1), (1, 3), (2, 0), (3, 2))
    """(colour, shape) targets never used in training, one per colour and per shape."""
    hidden: int = 64
    """Width of every network."""
    view_channels: int = 16
    """Channels of the listener's per-cell view layers (which also see the message)."""
    learning_rate: float = 1e-3
    """Adam step size."""
    epochs: int = 2
    """PPO passes over a round."""
    minibatches: int = 8
    """Minibatches per pass (split over environments, whole episodes each)."""
    clip: float = 0.2
    """PPO ratio clip."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    move_entropy: float = 0.03
    """Entropy bonus of the listener's moves."""
    token_entropy: float = 0.01
    """Entropy bonus of the speaker's tokens (rl channel only)."""
    value_weight: float = 0.5
    """Weight of the value loss."""
    critic: str = "independent"
    """Value baseline: central (one critic per listener seat reading what ``state()`` holds:
    the room and the target) or independent (each agent's own value head)."""
    signalling_weight: float = 0.1
    """Weight of the positive-signalling bias (after Eccles et al. 2019): each speaker
    maximises I(message; goal) = H(mean message distribution) - mean H(message | goal) over
    the training goals (whole messages: tokens are drawn independently given the goal)."""
    signalling_scope: str = "population"
    """Whose messages the bias reads: each ``member`` on its own, or the ``population``'s
    mixture (a speaker drawn at random, as a randomly paired listener meets them), which
    also penalises a message that names different goals for different speakers
    (centralised training, like the central critic; it does not say which message to use)."""
    temperature: float = 1.0
    """Gumbel-Softmax temperature (gumbel channel)."""
    token_scale: float = 3.0
    """Initial size of the speaker's token logits (std of the head weights x sqrt(hidden))."""
    eval_every: int = 50
    """Rounds between evaluations (and checkpoints)."""
    eval_envs: int = 512
    """Evaluation episodes per split."""

    def __post_init__(self):
        require(self.channel in ("gumbel", "rl"), "channel", "'gumbel' or 'rl'", self.channel)
        require(self.signalling_scope in ("member", "population"), "signalling_scope",
                "'member' or 'population'", self.signalling_scope)
        require(self.critic in ("central", "independent"), "critic",
                "'central' or 'independent'", self.critic)
        for name in ("rounds", "num_envs", "population", "epochs", "minibatches",
                     "eval_every", "eval_envs", "hidden", "vocab_size", "max_cycles"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= 1, name, "an integer >= 1", value)
        require(self.num_envs % self.minibatches == 0, "num_envs",
                f"a multiple of minibatches ({self.minibatches})", self.num_envs)
        require(self.replace_every >= 0, "replace_every", "an integer >= 0", self.replace_every)
        require(0 < self.learning_rate < 1, "learning_rate", "a number in (0, 1)",
                self.learning_rate)
        require(self.temperature > 0, "temperature", "a number > 0", self.temperature)
        require(self.signalling_weight == 0 or self.vocab_size ** self.message_length <= 65536,
                "signalling_weight", "0 when there are over 65,536 possible messages "
                "(the bias sums over every message)", self.signalling_weight)

    def world_settings(self, split: str) -> dict:
        """Settings of ``referential_v0`` for one split (train, test or all)."""
        return {"num_agents": 2, "room_size": self.room_size, "view_radius": self.room_size - 1,
                "num_objects": self.num_objects, "vocab_size": self.vocab_size,
                "message_length": self.message_length, "max_cycles": self.max_cycles,
                "held_out": tuple(map(tuple, self.held_out)), "split": split}


def make_world(config: LanguageConfig, split: str):
    """The referential world of a run, for ``split``."""
    return build_world(make_config(REFERENTIAL_CONFIG, config.world_settings(split)))


def make_population(config: LanguageConfig, world, generator: torch.Generator) -> Population:
    """Speakers read only their goal; listeners read the room and their inbox."""
    spec = ObservationSpec.from_spaces(spaces.observation_space(world),
                                       spaces.action_space(world))

    def member(role: str, member_generator: torch.Generator) -> nn.Module:
        if role == "critic":
            # Centralised training: the critic knows the target, so it can value a step
            # towards the right object before the listener has learned the code. Its move
            # head holds Q(state, move).
            return AgentNetwork(spec, config.hidden, view=True, goal=True, inbox=False,
                                others=False, position=False, memory=False,
                                view_channels=config.view_channels, view_kernel=1,
                                view_condition="goal", generator=member_generator)
        listener = role == "listener"
        network = AgentNetwork(spec, config.hidden, view=listener, goal=not listener,
                               inbox=listener, others=False, position=False, memory=False,
                               view_channels=config.view_channels, view_kernel=1,
                               view_condition="inbox" if listener else None,
                               generator=member_generator)
        if not listener and network.heads.tokens is not None:
            # A speaker whose first messages already differ by target gives the listener
            # something to latch on to; near-uniform tokens would be pure noise.
            with torch.no_grad():
                network.heads.tokens.weight.normal_(
                    0, config.token_scale / config.hidden ** 0.5, generator=member_generator)
        return network

    roles = MEMBER_ROLES if config.critic == "central" else ROLES
    return Population(PopulationConfig(size=config.population, roles=roles), member, generator)


def critic_inputs(listener: dict[str, torch.Tensor],
                  speaker: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The central critic's input: the listener's view of the room and the group's target."""
    return {"view": listener["view"], "goal": speaker["goal"], "goal_mask": speaker["goal_mask"],
            "action_mask": listener["action_mask"]}


def role_inputs(observation: dict, role: int) -> dict[str, torch.Tensor]:
    """One role's observation ``[B, ...]`` as tensors (the agent axis taken out)."""
    keys = ("goal", "goal_mask", "action_mask") if role == SPEAKER else (
        "view", "inbox", "action_mask")
    return {key: torch.as_tensor(np.ascontiguousarray(observation[key][:, role]))
            for key in keys}


def run_members(population: Population, role: int, inputs: dict[str, torch.Tensor],
                members: np.ndarray, axis: int) -> dict[str, torch.Tensor]:
    """Each environment's outputs from its own member; ``axis`` of every input and output
    is the environment axis (0 while playing, 1 for ``[T, B, ...]`` in updates).

    The loop is over members (a handful), never over agents or environments.
    """
    outputs: dict[str, torch.Tensor] = {}
    for index in np.unique(members):
        chosen = torch.as_tensor(np.flatnonzero(members == index))
        part = {key: value.index_select(axis, chosen) for key, value in inputs.items()}
        result, _ = population.member(MEMBER_ROLES[role], int(index))(part)
        for key in ("move_logits", "token_logits", "value"):
            value = result[key]
            if key not in outputs:
                shape = list(value.shape)
                shape[axis] = len(members)
                outputs[key] = value.new_zeros(shape)
            outputs[key] = outputs[key].index_copy(axis, chosen, value)
    return outputs


@dataclass
class Round:
    """One round's episodes, every array ``[T, B, ...]`` (T = max_cycles)."""

    speaker: dict[str, torch.Tensor]
    listener: dict[str, torch.Tensor]
    tokens: torch.Tensor  # [T, B, L] speaker tokens
    noise: torch.Tensor  # [T, B, L, V] Gumbel noise that drew them
    token_logp: torch.Tensor  # [T, B]
    moves: torch.Tensor  # [T, B] listener moves
    move_logp: torch.Tensor  # [T, B]
    values: torch.Tensor  # [T, B, 2] per role
    rewards: torch.Tensor  # [T, B]
    alive: torch.Tensor  # [T, B] the episode was still running before this step
    members: np.ndarray  # [B, 2] who played in each environment
    success: float


def play_round(config: LanguageConfig, world, population: Population, round_index: int,
               members: np.ndarray, generator: torch.Generator, intervene=None,
               greedy: bool = False) -> Round:
    """Play one episode per environment (no gradients), sampling actions or, if ``greedy``,
    taking the most likely ones.

    ``intervene(tokens [B, L]) -> tokens`` replaces the speaker's tokens before the world
    delivers them (for the intervention test).
    """
    batch = len(members)
    state, observation = core.reset(world, config.seed, batch, episode=round_index)
    length = config.message_length
    record: dict[str, list] = {k: [] for k in ("speaker", "listener", "tokens", "noise",
                                               "token_logp", "moves", "move_logp", "values",
                                               "rewards", "alive")}
    alive = torch.ones(batch, dtype=torch.bool)
    success = torch.zeros(batch)
    with torch.no_grad():
        # The speaker's goal never changes within an episode, so it decides once: one
        # message, drawn by Gumbel-max with noise the update can reuse, repeated every step.
        speaker_in = role_inputs(observation, SPEAKER)
        said = run_members(population, SPEAKER, speaker_in, members[:, SPEAKER], 0)
        uniform = torch.rand(said["token_logits"].shape, generator=generator)
        noise = -torch.log(-torch.log(uniform.clamp(1e-10, 1 - 1e-7)))
        token_logits = said["token_logits"].log_softmax(-1)
        tokens = ((token_logits + (0 if greedy else noise)).argmax(-1) if length else
                  torch.zeros(batch, 0, dtype=torch.long))
        token_logp = token_logits.gather(-1, tokens[..., None]).squeeze(-1).sum(-1)
        for _ in range(config.max_cycles):
            listener_in = role_inputs(observation, LISTENER)
            heard = run_members(population, LISTENER, listener_in, members[:, LISTENER], 0)
            values = torch.stack([said["value"], heard["value"]], -1)
            if config.critic == "central" and not greedy:
                q_values = run_members(population, CRITIC, critic_inputs(listener_in, speaker_in),
                                       members[:, LISTENER], 0)["move_logits"]
                central = expected_value(heard["move_logits"], q_values)
                values = torch.stack([central, central], -1)
            move_dist = torch.distributions.Categorical(logits=heard["move_logits"])
            moves = (heard["move_logits"].argmax(-1) if greedy else
                     torch.multinomial(move_dist.probs, 1, generator=generator).squeeze(-1))
            sent = tokens if intervene is None else torch.as_tensor(intervene(tokens.numpy()))
            actions = np.zeros((batch, 2, 1 + length), dtype=np.int64)
            actions[:, LISTENER, 0] = moves.numpy()
            actions[:, SPEAKER, 1:] = sent.numpy()
            state, result = core.step(world, state, actions, auto_reset=False)
            reward = torch.as_tensor(result.reward[:, LISTENER]) * alive
            for key, value in (("speaker", speaker_in), ("listener", listener_in),
                               ("tokens", tokens), ("noise", noise), ("token_logp", token_logp),
                               ("moves", moves), ("move_logp", move_dist.log_prob(moves)),
                               ("values", values),
                               ("rewards", reward), ("alive", alive)):
                record[key].append(value)
            success = torch.maximum(success, reward)
            alive = alive & ~torch.as_tensor(result.terminated | result.truncated)
            observation = result.observation
    stacked = {k: (torch.stack(v) if k not in ("speaker", "listener") else
                   {key: torch.stack([step[key] for step in v]) for key in v[0]})
               for k, v in record.items()}
    return Round(**stacked, members=members, success=float(success.mean()))


def advantages(config: LanguageConfig, episode: Round) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and returns ``[T, B, 2]`` per role (one episode per env, no bootstrap)."""
    reward = episode.rewards[..., None].expand_as(episode.values)
    alive = episode.alive[..., None].expand_as(episode.values)
    return gae(reward, episode.values, alive, config.gamma, config.gae_lambda)


def relaxed_inbox(config: LanguageConfig, token_logits: torch.Tensor, tokens: torch.Tensor,
                  noise: torch.Tensor, stored_inbox: torch.Tensor) -> torch.Tensor:
    """The listener's inbox ``[T, b, 1, L, V+1]`` rebuilt from the speaker's straight-through
    Gumbel-Softmax samples: equal in value to what was heard, differentiable in the logits."""
    soft = ((token_logits + noise) / config.temperature).softmax(-1)
    hard = nn.functional.one_hot(tokens, config.vocab_size).float()
    message = pad_silence(hard + soft - soft.detach())  # [T, b, L, V+1]
    silence = nn.functional.one_hot(stored_inbox[:1].long(), config.vocab_size + 1).float()
    # Step t hears the speaker's step t - 1; step 0 hears silence (the stored inbox).
    return torch.cat([silence, message[:-1, :, None]], dim=0)


def ppo_losses(config: LanguageConfig, population: Population, episode: Round,
               advantage: torch.Tensor, returns: torch.Tensor,
               envs: torch.Tensor) -> dict[str, torch.Tensor]:
    """PPO losses of both roles on the environments ``envs`` (whole episodes).

    The speaker's input is its goal, the same at every step, so it runs once per episode;
    the listener runs only on the steps before its episode ended (the rest are masked).
    """
    pick = {k: v.index_select(1, envs) for k, v in (
        ("tokens", episode.tokens), ("noise", episode.noise), ("token_logp", episode.token_logp),
        ("moves", episode.moves), ("move_logp", episode.move_logp), ("alive", episode.alive))}
    members = episode.members[envs.numpy()]
    step, env = pick["alive"].nonzero(as_tuple=True)  # live steps, step-major
    speaker_in = {k: v[0].index_select(0, envs) for k, v in episode.speaker.items()}
    listener_in = {k: v.index_select(1, envs) for k, v in episode.listener.items()}
    said = run_members(population, SPEAKER, speaker_in, members[:, SPEAKER], 0)
    token_logits = said["token_logits"].log_softmax(-1)  # [b, L, V]
    live = {k: v[step, env] for k, v in listener_in.items()}
    plain = run_members(population, LISTENER, live, members[env.numpy(), LISTENER], 0)
    heard = plain
    if config.channel == "gumbel" and config.message_length:
        # The PPO surrogate alone reaches the speaker: it runs on the relaxed message (equal
        # in value to what was heard). The value and entropy terms use the plain run, or
        # their gradients (the value's is far larger) would train the speaker too.
        relaxed = relaxed_inbox(config, token_logits.expand(pick["alive"].shape[0],
                                                            *token_logits.shape),
                                pick["tokens"], pick["noise"], listener_in["inbox"])
        heard = run_members(population, LISTENER, dict(live, inbox=relaxed[step, env]),
                            members[env.numpy(), LISTENER], 0)
    advantage, returns = advantage.index_select(1, envs)[step, env], returns.index_select(
        1, envs)[step, env]  # [N, 2]

    def clipped(new_logp, old_logp, adv):
        return clipped_surrogate(new_logp, old_logp, adv, config.clip)

    losses = {"listener": clipped(
        torch.distributions.Categorical(logits=heard["move_logits"]).log_prob(
            pick["moves"][step, env]), pick["move_logp"][step, env],
        normalise(advantage[:, LISTENER])),
        "move_entropy": -torch.distributions.Categorical(
            logits=plain["move_logits"]).entropy().mean()}
    if config.message_length:
        token_entropy = -(token_logits.exp() * token_logits).sum(-1).sum(-1)
        losses["token_entropy"] = -token_entropy.mean()
        if config.channel == "rl":
            # The message is one decision per episode, taken at step 0 and repeated.
            first = step == 0  # every episode is alive at step 0, in env order
            new_logp = token_logits.gather(-1, pick["tokens"][0, ..., None]).squeeze(-1).sum(-1)
            losses["speaker"] = clipped(new_logp, pick["token_logp"][0],
                                        normalise(advantage[first, SPEAKER]))
    if config.signalling_weight and config.message_length:
        losses["signalling"] = -signalling(config, population, episode.speaker,
                                           np.unique(members[:, SPEAKER]))
    if config.critic == "central":
        critic_in = critic_inputs(live, {k: v[env] for k, v in speaker_in.items()})
        q_values = run_members(population, CRITIC, critic_in, members[env.numpy(), LISTENER],
                               0)["move_logits"]
        taken = q_values.gather(-1, pick["moves"][step, env][:, None]).squeeze(-1)
        losses["value"] = ((taken - returns[:, LISTENER]) ** 2).mean()
    else:
        values = torch.stack([said["value"][env], plain["value"]], -1)
        losses["value"] = ((values - returns) ** 2).sum(-1).mean()
    return losses


def expected_value(move_logits: torch.Tensor, q_values: torch.Tensor) -> torch.Tensor:
    """``V = sum_a pi(a) Q(a)`` under the listener's policy (masked moves have pi = 0)."""
    probabilities = move_logits.softmax(-1)
    return (probabilities * q_values.masked_fill(probabilities == 0, 0)).sum(-1)


def signalling(config: LanguageConfig, population: Population,
               speaker: dict[str, torch.Tensor], members: np.ndarray) -> torch.Tensor:
    """``I(message; goal)`` in nats with goals uniform over the distinct goals in the speaker
    inputs ``[T, B, ...]``: the mean over ``members`` of each one's own, or with scope
    'population' that of the mixture of all speakers."""
    _, rows = np.unique(speaker["goal"][0].numpy(), axis=0, return_index=True)
    inputs = {key: value[0, torch.as_tensor(rows)] for key, value in speaker.items()}
    if config.signalling_scope == "population":
        members = np.arange(config.population)
    messages = []
    for index in members:
        probabilities = population.member(ROLES[SPEAKER], int(index))(inputs)[0][
            "token_logits"].softmax(-1)  # [goals, L, V]
        message = probabilities[:, 0]
        for position in range(1, probabilities.shape[1]):
            message = (message[:, :, None] * probabilities[:, position, None, :]).flatten(1)
        messages.append(message)  # [goals, V ** L]
    if config.signalling_scope == "population":
        messages = [torch.stack(messages).mean(0)]
    return sum(entropy(m.mean(0)) - entropy(m).mean(0) for m in messages) / len(messages)


def entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of distributions over the last axis."""
    return -(probabilities * probabilities.clamp_min(1e-12).log()).sum(-1)


def total_loss(config: LanguageConfig, losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """Weighted sum of the PPO losses."""
    total = losses["listener"] + config.value_weight * losses["value"]
    total = total + config.move_entropy * losses["move_entropy"]
    if "token_entropy" in losses and config.channel == "rl":
        # The differentiable speaker explores through its Gumbel noise; a bonus would only
        # pull it back to uniform tokens against the listener's weak early gradient.
        total = total + config.token_entropy * losses["token_entropy"]
    if "speaker" in losses:
        total = total + losses["speaker"]
    if "signalling" in losses:
        total = total + config.signalling_weight * losses["signalling"]
    return total


def update(config: LanguageConfig, population: Population, optimizer: torch.optim.Optimizer,
           episode: Round, generator: torch.Generator) -> dict[str, float]:
    """PPO epochs over one round; returns the last minibatch's losses."""
    advantage, returns = advantages(config, episode)
    batch = episode.rewards.shape[1]
    size = batch // config.minibatches
    report: dict[str, float] = {}
    for _ in range(config.epochs):
        order = torch.randperm(batch, generator=generator)
        for start in range(0, batch, size):
            envs = order[start:start + size].sort().values
            losses = ppo_losses(config, population, episode, advantage, returns, envs)
            optimizer.zero_grad()
            total_loss(config, losses).backward()
            nn.utils.clip_grad_norm_(population.parameters(), 1.0)
            optimizer.step()
            report = {k: float(v.detach()) for k, v in losses.items()}
    return report


def schedule(config: LanguageConfig, generator: np.random.Generator) -> np.ndarray:
    """Members ``[num_envs, 2]`` (speaker, listener) for one round."""
    return pairing_schedule(generator, config.population, len(ROLES), config.num_envs)


def make_optimizer(config: LanguageConfig, population: Population) -> torch.optim.Optimizer:
    """Adam over every member (foreach: one batched step over all of them, also on a CPU)."""
    return torch.optim.Adam(population.parameters(), lr=config.learning_rate, foreach=True)


def reset_optimizer_state(optimizer: torch.optim.Optimizer, module: nn.Module) -> None:
    """Forget the optimizer's moments for ``module``'s parameters (after a replacement)."""
    for parameter in module.parameters():
        optimizer.state.pop(parameter, None)


def train(config: LanguageConfig, out: str | Path | None = None, progress: bool = True,
          stop_after: int | None = None) -> list[dict]:
    """Train a population, evaluating every ``eval_every`` rounds; returns the metric rows.

    With ``out`` the run is logged and checkpointed there, and a run already in ``out``
    resumes from its checkpoint. ``stop_after`` ends the call after that many rounds
    (tests use it to interrupt a run).
    """
    from socius.societies.language.evaluate import evaluate

    run = open_run(out, config, "language")
    world = make_world(config, "train")
    generator = torch.Generator().manual_seed(config.seed)
    population = make_population(config, world, generator)
    optimizer = make_optimizer(config, population)
    pairing = np.random.default_rng(config.seed)
    start = 0
    checkpoint = run.load_checkpoint() if run is not None else None
    if checkpoint is not None:
        population.load_state_dict(checkpoint["population"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        pairing.bit_generator.state = checkpoint["pairing"]
        generator.set_state(checkpoint["generator"])
        start = checkpoint["progress"]
        run.truncate(start, "round")
    rows = run.rows() if run is not None else []
    bar = tqdm(range(start, config.rounds), disable=not progress, desc=f"language {config.channel}",
               initial=start, total=config.rounds)
    started = time.perf_counter()
    for round_index in bar:
        if stop_after is not None and round_index - start >= stop_after:
            break
        if config.replace_every and round_index and round_index % config.replace_every == 0:
            seat = (round_index // config.replace_every - 1) % config.population
            for role in population.config.roles:
                reset_optimizer_state(optimizer, population.replace(role, seat, generator))
        episode = play_round(config, world, population, round_index, schedule(config, pairing),
                             generator)
        losses = update(config, population, optimizer, episode, generator)
        done = round_index + 1
        if done % config.eval_every == 0 or done == config.rounds:
            report = evaluate(config, population, seed=config.seed, permutations=200,
                              cross_play=False)
            row = {"round": done, "episodes": done * config.num_envs,
                   "train_success": episode.success, **losses, **report}
            rows.append(row)
            bar.set_postfix(success=f"{report['success']:.2f}",
                            heldout=f"{report['success_heldout']:.2f}",
                            topsim=f"{report.get('topsim', float('nan')):.2f}")
            if run is not None:
                run.append(row)
                run.append({"round": done, "seconds": round(time.perf_counter() - started, 1)},
                           "timing.jsonl")
                run.save_checkpoint({
                    "progress": done, "population": population.state_dict(),
                    "optimizer": optimizer.state_dict(), "pairing": pairing.bit_generator.state,
                    "generator": generator.get_state()})
    return rows


def config_from_run(path: str | Path) -> LanguageConfig:
    """The config saved in a run directory."""
    saved = RunDirectory(path).config()
    saved["held_out"] = tuple(tuple(pair) for pair in saved["held_out"])
    return LanguageConfig(**saved)
