"""PPO's pieces as pure tensor functions, shared by every on-policy trainer in socius."""

from __future__ import annotations

import torch


def gae(rewards: torch.Tensor, values: torch.Tensor, alive: torch.Tensor, gamma: float,
        lam: float, ends: torch.Tensor | None = None,
        bootstrap: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and returns ``[T, ...]``.

    ``alive[t]`` marks steps the agent acts in; a step whose successor is not alive ends
    the agent's episode, and dead steps get advantage 0. For auto-resetting worlds,
    ``ends[t]`` marks a step after which the episode ended (the next step starts another)
    and ``bootstrap`` ``[...]`` is the value of the state after the last step, for
    episodes still running; without it the last step ends every episode.
    """
    steps = rewards.shape[0]
    alive = alive.to(values.dtype)
    stops = ends.to(values.dtype) if ends is not None else torch.zeros_like(values)
    advantage = torch.zeros_like(values)
    running = torch.zeros_like(values[0])
    for t in reversed(range(steps)):
        if t + 1 < steps:
            following, next_value = alive[t + 1], values[t + 1]
        elif bootstrap is not None:
            following, next_value = alive[t], bootstrap
        else:
            following, next_value = torch.zeros_like(alive[t]), torch.zeros_like(values[t])
        following = following * (1 - stops[t])
        delta = rewards[t] + gamma * following * next_value - values[t]
        running = delta + gamma * lam * following * running
        advantage[t] = running * alive[t]
    return advantage, advantage + values


def normalise(values: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit standard deviation (advantages within a minibatch)."""
    return (values - values.mean()) / (values.std() + 1e-8)


def clipped_surrogate(new_log_prob: torch.Tensor, old_log_prob: torch.Tensor,
                      advantage: torch.Tensor, clip: float) -> torch.Tensor:
    """PPO's clipped policy loss (to minimise), averaged over its inputs."""
    ratio = (new_log_prob - old_log_prob).exp()
    surrogate = torch.minimum(ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage)
    return -surrogate.mean()


def minibatches(batch: int, count: int, epochs: int, generator: torch.Generator):
    """Index tensors of ``count`` minibatches per epoch over ``batch`` environments (whole
    episodes each), each epoch a fresh seeded permutation; every minibatch sorted."""
    size = batch // count
    for _ in range(epochs):
        order = torch.randperm(batch, generator=generator)
        for start in range(0, batch, size):
            yield order[start:start + size].sort().values


def gradient_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, parameters,
                  max_norm: float, clip=None) -> None:
    """One optimiser step on ``loss`` with the gradient norm of ``parameters`` clipped, or
    with ``clip(max_norm)`` doing the clipping (e.g. a population's, per member)."""
    optimizer.zero_grad()
    loss.backward()
    if clip is not None:
        clip(max_norm)
    else:
        torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    optimizer.step()
