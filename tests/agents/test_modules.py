"""Agent torch modules: shapes on every task, masking, relaxed messages, invariances, resets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from socius.agents.modules import (
    AgentNetwork,
    GoalEncoder,
    Heads,
    InboxEncoder,
    Memory,
    ObservationSpec,
    OthersEncoder,
    ViewEncoder,
    pad_silence,
)
from socius.envs import make_vector

HIDDEN = 16
CONFIGS = {
    "referential": ("referential_v0", {}),
    "referential_mute": ("referential_v0", {"message_length": 0}),
    "referential_alone": ("referential_v0", {"max_others": 0}),
    "referential_radius0": ("referential_v0", {"view_radius": 0}),
    "goal_cycle": ("goal_cycle_v0", {}),
    "goal_cycle_alone": ("goal_cycle_v0", {"max_others": 0}),
    "maze": ("maze_v0", {}),
    "maze_talking": ("maze_v0", {"message_length": 2}),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tensors here are tiny: intra-op threads only add synchronisation, slow on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rollout(name, kwargs, steps=3, num_envs=2):
    """Spec and the observations [T, B, N, ...] of a short random rollout (clones: no aliasing)."""
    venv = make_vector(name, num_envs, seed=0, **kwargs)
    spec = ObservationSpec.from_spaces(venv.single_observation_space, venv.single_action_space)
    rng = np.random.default_rng(0)
    observations = [{k: v.clone() for k, v in venv.reset().items()}]
    for _ in range(steps - 1):
        observation = venv.step(venv.sample_actions(rng))[0]
        observations.append({k: v.clone() for k, v in observation.items()})
    stacked = {k: torch.stack([o[k] for o in observations]) for k in observations[0]}
    return spec, stacked


def network(spec, seed=0, **flags):
    return AgentNetwork(spec, hidden=HIDDEN, embed=4, generator=generator(seed), **flags)


@pytest.fixture(scope="module", params=list(CONFIGS))
def task(request):
    return rollout(*CONFIGS[request.param])


def test_shapes_on_every_task(task):
    spec, observations = task
    T, B, N = observations["position"].shape[:3]
    step = {k: v[-1] for k, v in observations.items()}
    net = network(spec)
    outputs, state = net(step, net.initial_state((B, N)), torch.zeros(B, N, dtype=torch.bool))
    L, V = spec.message_length, spec.vocab_size
    assert outputs["move_logits"].shape == (B, N, spec.num_moves)
    assert outputs["token_logits"].shape == (B, N, L, V)
    assert outputs["value"].shape == outputs["reach"].shape == (B, N)
    assert ((outputs["reach"] >= 0) & (outputs["reach"] <= 1)).all()
    assert state.shape == outputs["features"].shape == (B, N, HIDDEN)
    assert torch.isfinite(outputs["move_logits"]).all()
    for name, encoder in net.encoders.items():
        keys = {"goal": ("goal", "goal_mask")}.get(name, (name,))
        assert encoder(*(step[k] for k in keys)).shape == (B, N, HIDDEN)
    sequence, _ = net.forward_sequence(observations, net.initial_state((B, N)))
    assert sequence["move_logits"].shape == (T, B, N, spec.num_moves)
    assert sequence["token_logits"].shape == (T, B, N, L, V)


def test_empty_inputs_give_zero_features_and_no_parameters():
    spec, observations = rollout("goal_cycle_v0", {"max_others": 0})
    assert spec.message_length == spec.max_others == spec.inbox_size == 0
    for encoder, key in [(InboxEncoder(spec, HIDDEN), "inbox"),
                         (OthersEncoder(spec, HIDDEN), "others")]:
        assert not list(encoder.parameters())
        assert (encoder(observations[key]) == 0).all()
    assert network(spec).heads.tokens is None


def test_gradients_reach_every_parameter(task):
    spec, observations = task
    net = network(spec)
    outputs, state = net.forward_sequence(observations, net.initial_state(
        observations["position"].shape[1:3]))
    loss = sum(o.float().mean() for o in outputs.values()) + state.mean()
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_sequence_equals_step_by_step_with_resets():
    spec, observations = rollout("maze_v0", {"message_length": 2}, steps=4)
    net = network(spec)
    T, B, N = observations["position"].shape[:3]
    reset = torch.zeros(T, B, N, dtype=torch.bool)
    reset[2, 0] = True
    sequence, final = net.forward_sequence(observations, net.initial_state((B, N)), reset)
    state = net.initial_state((B, N))
    for t in range(T):
        outputs, state = net({k: v[t] for k, v in observations.items()}, state, reset[t])
        torch.testing.assert_close(outputs["value"], sequence["value"][t])
    torch.testing.assert_close(state, final)


def test_masked_moves_are_never_sampled():
    spec, _ = rollout("maze_v0", {}, steps=1)
    heads = Heads(spec, HIDDEN, generator=generator())
    draw = generator(1)
    mask = (torch.rand(64, spec.num_moves, generator=draw) < 0.5).to(torch.int8)
    mask[:, 0] = 1  # stay is always allowed
    features = torch.randn(64, HIDDEN, generator=draw) * 100  # large: tempt masked moves
    logits = heads(features, mask)["move_logits"]
    probabilities = torch.softmax(logits, dim=-1)
    assert (probabilities[mask == 0] == 0).all()
    samples = torch.multinomial(probabilities, 500, replacement=True, generator=draw)
    assert mask.gather(1, samples).bool().all()


def test_relaxed_inbox_matches_integer_inbox():
    spec, observations = rollout("referential_v0", {})
    encoder = InboxEncoder(spec, HIDDEN, generator=generator())
    draw = generator(2)
    inbox = torch.randint(0, spec.vocab_size + 1, (4, 3, spec.inbox_size, spec.message_length),
                          generator=draw, dtype=torch.int32)
    one_hot = torch.nn.functional.one_hot(inbox.long(), spec.vocab_size + 1).float()
    torch.testing.assert_close(encoder(one_hot), encoder(inbox), rtol=0, atol=1e-6)
    # A speaker's token distribution [.., L, V] becomes an inbox entry with zero silence.
    tokens = torch.randint(0, spec.vocab_size, (5, spec.message_length), generator=draw)
    padded = pad_silence(torch.nn.functional.one_hot(tokens, spec.vocab_size).float())
    assert torch.equal(padded.argmax(-1), tokens + 1)
    # Gradients of the relaxed path reach the message (for a Gumbel-Softmax channel).
    soft = torch.softmax(torch.randn(one_hot.shape, generator=draw), -1).requires_grad_()
    encoder(soft).sum().backward()
    assert soft.grad is not None and soft.grad.abs().sum() > 0


def test_others_encoder_is_invariant_to_slot_order_and_absent_slots():
    spec, observations = rollout("referential_v0", {}, steps=1)
    encoder = OthersEncoder(spec, HIDDEN, generator=generator())
    draw = generator(3)
    others = observations["others"][0].clone()  # [B, N, M, 6+L]
    shape = others.shape[:-1]
    others[..., 0] = (torch.rand(shape, generator=draw) < 0.6).int()
    others[..., 1:3] = torch.randint(-spec.view_radius, spec.view_radius + 1, (*shape, 2),
                                     generator=draw, dtype=torch.int32)
    others[..., 4] = torch.randint(0, spec.num_roles, shape, generator=draw, dtype=torch.int32)
    others[..., 5:] = torch.randint(0, min(spec.num_moves, spec.vocab_size) + 1,
                                    others[..., 5:].shape, generator=draw, dtype=torch.int32)
    expected = encoder(others)
    permutation = torch.randperm(spec.max_others, generator=draw)
    torch.testing.assert_close(encoder(others[..., permutation, :]), expected)
    scrambled = others.clone()
    absent = scrambled[..., 0] == 0
    scrambled[..., 1:][absent] = 1  # change everything an absent slot carries
    torch.testing.assert_close(encoder(scrambled), expected)
    assert not torch.allclose(encoder(others[..., :1, :].expand_as(others)), expected)


def test_memory_reset_zeroes_exactly_flagged_environments():
    memory = Memory(3, HIDDEN, generator=generator())
    draw = generator(4)
    x = torch.randn(4, 2, 3, generator=draw)
    state = torch.randn(4, 2, HIDDEN, generator=draw)
    reset = torch.tensor([True, False, True, False])[:, None].expand(4, 2)
    output, new_state = memory(x, state, reset)
    fresh, _ = memory(x, memory.initial_state((4, 2)))
    kept, _ = memory(x, state)
    torch.testing.assert_close(new_state[reset], fresh[reset])
    torch.testing.assert_close(new_state[~reset], kept[~reset])
    assert torch.equal(output, new_state)
    assert not torch.allclose(fresh[~reset], kept[~reset])
    outputs, final = memory.unroll(x[None].expand(3, -1, -1, -1), state,
                                   torch.zeros(3, 4, 2, dtype=torch.bool))
    assert outputs.shape == (3, 4, 2, HIDDEN)
    torch.testing.assert_close(outputs[-1], final)


@pytest.mark.parametrize("condition", [0, 7])
def test_the_folded_per_cell_view_layers_equal_the_convolutions(condition):
    spec, observations = rollout("referential_v0", {}, steps=1)
    encoder = ViewEncoder(spec, HIDDEN, channels=8, kernel=1, condition=condition,
                          generator=generator())
    view = torch.as_tensor(observations["view"])
    extra = (torch.randn(*view.shape[:-3], condition, generator=generator(4))
             if condition else None)
    folded = encoder(view, extra)
    encoder.kernel = 0  # anything but 1 takes the convolution path
    torch.testing.assert_close(folded, encoder(view, extra), rtol=1e-5, atol=1e-6)


def test_fused_unroll_equals_stepping_with_resets_mid_sequence():
    memory = Memory(6, HIDDEN, generator=generator())
    draw = generator(3)
    xs = torch.randn(7, 5, 6, generator=draw)
    resets = torch.rand(7, 5, generator=draw) < 0.2
    resets[0] = True
    state = torch.randn(5, HIDDEN, generator=draw)
    fused, final = memory.unroll(xs, state, resets)
    stepped, step_state = [], state
    for t in range(7):
        output, step_state = memory(xs[t], step_state, resets[t])
        stepped.append(output)
    torch.testing.assert_close(fused, torch.stack(stepped))
    torch.testing.assert_close(final, step_state)
    # An old checkpoint (GRUCell names) loads into the fused layer.
    old = {key.replace("rnn.", "cell.").replace("_l0", ""): value
           for key, value in memory.state_dict().items()}
    again = Memory(6, HIDDEN, generator=generator(9))
    again.load_state_dict(old)
    torch.testing.assert_close(again.unroll(xs, state, resets)[0], fused)


def test_goal_encoder_ignores_masked_entries():
    spec, observations = rollout("goal_cycle_v0", {}, steps=1)
    encoder = GoalEncoder(spec, HIDDEN, generator=generator())
    draw = generator(5)
    goal = torch.randint(0, spec.goal_categories, (6, spec.goal_size), generator=draw)
    mask = torch.zeros(6, spec.goal_size, dtype=torch.int8)
    mask[:, 0] = 1
    expected = encoder(goal, mask)
    changed = goal.clone()
    changed[:, 1:] = (changed[:, 1:] + 1) % spec.goal_categories
    torch.testing.assert_close(encoder(changed, mask), expected, rtol=0, atol=0)
    changed[:, 0] = (changed[:, 0] + 1) % spec.goal_categories
    assert not torch.allclose(encoder(changed, mask), expected)


def test_weights_come_from_the_generator_not_the_global_rng():
    spec, observations = rollout("referential_v0", {}, steps=1)
    before = torch.get_rng_state()
    first, same, other = network(spec, 7), network(spec, 7), network(spec, 8)
    assert torch.equal(torch.get_rng_state(), before)
    for (name, a), b in zip(first.state_dict().items(), same.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(first.parameters(), other.parameters()))
    step = {k: v[0] for k, v in observations.items()}
    torch.testing.assert_close(first(step)[0]["value"], same(step)[0]["value"], rtol=0, atol=0)


def test_view_encoder_on_single_cell_view_and_flags():
    spec, observations = rollout("maze_v0", {"view_radius": 0, "hearing_radius": 0}, steps=1)
    assert spec.view_side == 1
    view = observations["view"]  # [T, B, N, 5, 1, 1]: three leading dims
    assert ViewEncoder(spec, HIDDEN).forward(view).shape == (*view.shape[:3], HIDDEN)
    flat = network(spec, view=True, goal=False, inbox=False, others=False, position=False,
                   memory=False)
    assert list(flat.encoders) == ["view"] and flat.memory is None
    outputs, state = flat({k: v[0] for k, v in observations.items()})
    assert state.shape[-1] == 0 and outputs["value"].shape == view.shape[1:3]
    with pytest.raises(ValueError):
        network(spec, view=False, goal=False, inbox=False, others=False, position=False)
