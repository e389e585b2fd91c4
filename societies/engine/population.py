"""Populations: members with their own parameters, and a seeded schedule of who plays whom.

A population holds ``size`` members for each role (e.g. 4 speakers and 4 listeners). A
role's members are one network with a leading member axis: every weight is one tensor
``[P, ...]``, so an optimizer step, gradient clipping and replacing a member are batched
tensor operations (:class:`MemberAdam` keeps Adam's step count per member). Members are
independent by default; ``shared=True`` makes every member of a role one network (the
usual parameter-sharing baseline). The schedule is drawn from an explicit
``numpy.random.Generator``, so a seed fixes every pairing. Members can be replaced by
fresh ones mid-training (to watch a language pass to newcomers), and two populations can
be crossed for cross-play.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class PopulationConfig:
    """Shape of a population."""

    size: int = 4
    """Members per role."""
    roles: tuple[str, ...] = ("speaker", "listener")
    """Role names; each group of the world has one agent of each role, in this order."""
    shared: bool = False
    """One network per role, shared by all its members (a baseline), instead of one each."""

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"config field 'size' must be an integer >= 1; got {self.size!r}")
        if not self.roles or len(set(self.roles)) != len(self.roles):
            raise ValueError(f"config field 'roles' must be distinct names; got {self.roles!r}")


class Population(nn.Module):
    """The members of each role as one network with a leading member axis.

    ``make_member(role, generator)`` builds one member; ``size`` of them are drawn in
    turn (so a seed gives the same weights as building them one by one) and their
    parameters stacked ``[P, ...]`` into one tensor each (``stack_module_state``): the
    optimizer steps P members with one update per tensor, gradients are clipped per
    member (:meth:`clip_gradients`) and a replaced member gets a fresh slice.
    ``shared=True`` stacks a single member that every index plays.
    """

    def __init__(self, config: PopulationConfig,
                 make_member: Callable[[str, torch.Generator], nn.Module],
                 generator: torch.Generator):
        super().__init__()
        self.config = config
        self.make_member = make_member
        self.stacked = config.size if not config.shared else 1
        self.weights = nn.ModuleDict()
        self.templates: dict[str, nn.Module] = {}
        self.slots: dict[str, list[tuple[dict, str, str]]] = {}
        self.placeholders: dict[str, dict[str, torch.Tensor]] = {}
        for role in config.roles:
            members = [make_member(role, generator) for _ in range(self.stacked)]
            parameters, buffers = torch.func.stack_module_state(members)
            holder = nn.Module()
            for name, value in parameters.items():
                holder.register_parameter(_key(name), nn.Parameter(value))
            for name, value in buffers.items():
                holder.register_buffer(_key(name), value)
            self.weights[role] = holder
            # The member's code without weights: a member's slice is put in for each call.
            self.templates[role] = copy.deepcopy(members[0]).to("meta")
            self.slots[role] = _slots(self.templates[role])
            self.placeholders[role] = {name: table[attribute]
                                       for table, attribute, name in self.slots[role]}
        # How many times each seat has been refilled with a fresh member.
        self.register_buffer("generation", torch.zeros(len(config.roles), config.size,
                                                       dtype=torch.long))
        self._register_load_state_dict_pre_hook(_stack_old_members)

    def stacked_state(self, role: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The role's parameters and buffers ``[P, ...]`` by their names in one member."""
        self._check(role, 0)
        holder = self.weights[role]
        parameters = {_name(key): value for key, value in holder.named_parameters()}
        buffers = {_name(key): value for key, value in holder.named_buffers()}
        return parameters, buffers

    def run(self, role: str, inputs: dict[str, torch.Tensor],
            members: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """Each sample's outputs from its own member: ``inputs`` ``[N, ...]``, ``members``
        ``[N]``; gradients reach the stacked tensors.

        Two ways, chosen by measurement (``benchmarks/population.py``, BENCHMARKS.md):
        below ``VMAP_FROM`` members each member present runs once on all of its samples
        through its slice of the stacked weights (a loop over members, never over
        samples); from ``VMAP_FROM`` on, one ``vmap`` of the member's code runs every
        member at once on the samples grouped by member and padded.
        """
        self._check(role, 0)
        members = np.zeros(len(members), np.int64) if self.config.shared else np.asarray(
            members)
        present = np.unique(members)
        if len(present) >= VMAP_FROM:
            return self._run_vmapped(role, inputs, torch.as_tensor(members))
        parameters, buffers = self.stacked_state(role)
        stacked = {**parameters, **buffers}
        outputs: dict[str, torch.Tensor] = {}
        for index in present:
            chosen = None if len(present) == 1 else torch.as_tensor(
                np.flatnonzero(members == index))
            part = inputs if chosen is None else {key: value.index_select(0, chosen)
                                                  for key, value in inputs.items()}
            result = self._call_member(role, stacked, int(index), part)
            for key in OUTPUTS:
                if key not in result:
                    continue
                if chosen is None:
                    outputs[key] = result[key]
                    continue
                if key not in outputs:
                    outputs[key] = result[key].new_zeros(len(members), *result[key].shape[1:])
                outputs[key] = outputs[key].index_copy(0, chosen, result[key])
        return outputs

    def _call_member(self, role: str, stacked: dict[str, torch.Tensor], index: int,
                     inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The role's code on ``inputs`` with member ``index``'s slices as its weights.

        What ``torch.func.functional_call`` does, without its per-call walk over the
        module tree (a fifth of a population round): the slots were listed once, and
        the template's meta tensors are put back afterwards. Not re-entrant: one
        population serves one call at a time (as a training loop does).
        """
        slots = self.slots[role]
        try:
            for table, attribute, name in slots:
                table[attribute] = stacked[name][index]
            outputs, _ = self.templates[role](inputs)
        finally:
            for table, attribute, name in slots:
                table[attribute] = self.placeholders[role][name]
        return outputs

    def _run_vmapped(self, role: str, inputs: dict[str, torch.Tensor],
                     members: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`run` as one vmap over the samples grouped ``[P, n, ...]`` by member."""
        order = torch.argsort(members, stable=True)
        sizes = torch.bincount(members, minlength=self.stacked)
        width = int(sizes.max())
        starts = torch.cumsum(sizes, 0) - sizes
        slot = torch.arange(width)
        # Row p lists member p's samples, padded with its first one (computed, never read;
        # an absent member's row repeats a neighbour's sample).
        grid = order[torch.where(slot[None] < sizes[:, None], starts[:, None] + slot,
                                 starts[:, None]).clamp_max(len(order) - 1)]
        grouped = {key: value[grid] for key, value in inputs.items()}
        parameters, buffers = self.stacked_state(role)
        template = self.templates[role]

        def one_member(params, bufs, batch):
            outputs, _ = torch.func.functional_call(template, (params, bufs), (batch,))
            return {key: outputs[key] for key in OUTPUTS if key in outputs}

        outputs = torch.vmap(one_member)(parameters, buffers, grouped)
        rank = torch.empty_like(members)
        rank[order] = torch.arange(len(members)) - starts[members[order]]
        where = members * width + rank
        return {key: value.flatten(0, 1)[where] for key, value in outputs.items()}

    def member(self, role: str, index: int) -> nn.Module:
        """A standalone copy of member ``index`` of ``role`` (for playing, not training)."""
        self._check(role, index)
        row = 0 if self.config.shared else index
        module = copy.deepcopy(self.templates[role]).to_empty(device="cpu")
        parameters, buffers = self.stacked_state(role)
        module.load_state_dict({name: value[row].detach().clone()
                                for name, value in {**parameters, **buffers}.items()})
        return module

    def replace(self, role: str, index: int, generator: torch.Generator) -> None:
        """Give seat ``index`` of ``role`` a freshly initialised member (its slice of every
        stacked tensor is overwritten in place; reset its optimizer state yourself)."""
        self._check(role, index)
        if self.config.shared:
            raise ValueError("members of a shared population cannot be replaced one by one")
        fresh = self.make_member(role, generator).state_dict()
        parameters, buffers = self.stacked_state(role)
        with torch.no_grad():
            for name, value in {**parameters, **buffers}.items():
                value[index].copy_(fresh[name])
        self.generation[self.config.roles.index(role), index] += 1

    def clip_gradients(self, max_norm: float) -> torch.Tensor:
        """Clip each member's gradient (over all its tensors) to ``max_norm`` separately;
        returns the norms before clipping ``[roles, P]``."""
        norms = []
        for role in self.config.roles:
            grads = [p.grad for p in self.weights[role].parameters() if p.grad is not None]
            if not grads:
                norms.append(torch.zeros(self.stacked))
                continue
            norm = torch.linalg.vector_norm(torch.stack([
                torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]), dim=0)
            scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
            torch._foreach_mul_(grads, [scale.reshape((-1,) + (1,) * (g.dim() - 1))
                                        for g in grads])
            norms.append(norm)
        return torch.stack(norms)

    def _check(self, role: str, index: int) -> None:
        if role not in self.weights:
            raise ValueError(f"unknown role {role!r}; expected one of {list(self.weights)}")
        if not 0 <= index < self.config.size:
            raise ValueError(f"member index must be in [0, {self.config.size}); got {index}")


OUTPUTS = ("move_logits", "token_logits", "value", "cell_logits")
"""The member outputs :meth:`Population.run` hands back (those a member has)."""
VMAP_FROM = 8
"""Members present from which :meth:`Population.run` vmaps instead of slicing: on the
language listener (1,280 samples, forward and backward) the vmap took 0.85x the slices'
time at 8 members, 1.01x at 4 and 1.24x at 1 (``benchmarks/population.py``)."""


def _slots(module: nn.Module) -> list[tuple[dict, str, str]]:
    """Every weight and buffer of ``module`` as (the dict holding it, its key, its full
    name), so a member's tensors can be put in place without walking the tree again."""
    slots = []
    for prefix, submodule in module.named_modules():
        for table in (submodule._parameters, submodule._buffers):
            for attribute, value in table.items():
                if value is not None:
                    slots.append((table, attribute, f"{prefix}.{attribute}" if prefix
                                  else attribute))
    return slots


def _key(name: str) -> str:
    # Module attribute names cannot hold dots.
    return name.replace(".", "__")


def _name(key: str) -> str:
    return key.replace("__", ".")


def _stack_old_members(state_dict: dict, prefix: str, *args) -> None:
    """Checkpoints written before members were stacked hold ``members.ROLE.I.NAME``
    tensors; stack them into ``weights.ROLE.NAME``."""
    old = [key for key in state_dict if key.startswith(prefix + "members.")]
    grouped: dict[str, dict[int, torch.Tensor]] = {}
    for key in old:
        role, index, name = key[len(prefix) + len("members."):].split(".", 2)
        grouped.setdefault(f"{prefix}weights.{role}.{_key(name)}", {})[int(index)] = (
            state_dict.pop(key))
    for key, rows in grouped.items():
        state_dict[key] = torch.stack([rows[i] for i in sorted(rows)])


class MemberAdam(torch.optim.Optimizer):
    """Adam over stacked ``[P, ...]`` tensors with a step count per member, so a member
    whose state is reset (:meth:`reset_member`) restarts Adam's bias correction while the
    others go on (torch's Adam keeps one count per tensor)."""

    def __init__(self, params, members: int, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        self.members = members

    @torch.no_grad()
    def step(self, closure=None):
        """One Adam step of every member (foreach: a few fused calls for all tensors)."""
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for parameter in params:
                if not self.state[parameter]:
                    self.state[parameter].update(step=torch.zeros(self.members),
                                                 exp_avg=torch.zeros_like(parameter),
                                                 exp_avg_sq=torch.zeros_like(parameter))
            states = [self.state[p] for p in params]
            grads = [p.grad for p in params]
            first_moments = [state["exp_avg"] for state in states]
            second_moments = [state["exp_avg_sq"] for state in states]
            torch._foreach_add_([state["step"] for state in states], 1)
            torch._foreach_lerp_(first_moments, grads, 1 - beta1)
            torch._foreach_mul_(second_moments, beta2)
            torch._foreach_addcmul_(second_moments, grads, grads, value=1 - beta2)
            counts = torch.stack([state["step"] for state in states])  # [tensors, P]
            shapes = [(-1,) + (1,) * (p.dim() - 1) for p in params]
            first = [row.reshape(shape) for row, shape in zip(1 - beta1 ** counts, shapes)]
            second = [row.reshape(shape) for row, shape in zip(1 - beta2 ** counts, shapes)]
            denominators = torch._foreach_div(second_moments, second)
            torch._foreach_sqrt_(denominators)
            torch._foreach_add_(denominators, group["eps"])
            steps = torch._foreach_div(first_moments, first)
            torch._foreach_mul_(steps, -group["lr"])
            torch._foreach_addcdiv_(params, steps, denominators)

    def reset_member(self, index: int) -> None:
        """Forget member ``index``'s moments and step count (after a replacement)."""
        for state in self.state.values():
            if state:
                state["step"][index] = 0
                state["exp_avg"][index] = 0
                state["exp_avg_sq"][index] = 0


def pairing_schedule(generator: np.random.Generator, size: int, roles: int,
                     groups: int) -> np.ndarray:
    """Members ``[groups, roles]`` for one round: each column is a balanced random draw
    (every member plays ``groups / size`` times, up to rounding), independent per role."""
    if size < 1 or roles < 1 or groups < 0:
        raise ValueError(f"pairing_schedule needs size >= 1, roles >= 1 and groups >= 0; "
                         f"got {size}, {roles}, {groups}")
    blocks = -(-groups // size)
    columns = [np.concatenate([generator.permutation(size) for _ in range(blocks)])[:groups]
               if groups else np.zeros(0, np.int64) for _ in range(roles)]
    return np.stack(columns, axis=1).astype(np.int64)


def cross_population_pairs(size_a: int, size_b: int) -> np.ndarray:
    """Every (member of A, member of B) pair ``[size_a * size_b, 2]``, for cross-play."""
    return np.stack(np.meshgrid(np.arange(size_a), np.arange(size_b), indexing="ij"),
                    axis=-1).reshape(-1, 2)
