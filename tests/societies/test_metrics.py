"""Language metrics on hand-built languages whose answers are known."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from socius.societies.language import metrics


def grid_meanings(values=4, attributes=2):
    """Every combination of ``attributes`` attributes with ``values`` values ``[n, A]``."""
    return np.array(list(itertools.product(range(values), repeat=attributes)))


def test_one_token_per_attribute_code_scores_one():
    meanings = grid_meanings(4, 2)
    # Position j carries attribute j, with its own tokens (colour 0-3, shape 4-7).
    messages = meanings + np.array([0, 4])
    assert metrics.topographic_similarity(meanings, messages) == pytest.approx(1.0)
    assert metrics.positional_disentanglement(meanings, messages) == pytest.approx(1.0)
    assert metrics.bag_of_symbols_disentanglement(meanings, messages, 8) == pytest.approx(1.0)


def test_shared_vocabulary_compositional_code_scores_a_little_below_one():
    # SCIENCE.md: about 0.94 at L = 3 when positions share one vocabulary.
    meanings = grid_meanings(3, 3)
    score = metrics.topographic_similarity(meanings, meanings.copy())
    assert score == pytest.approx(0.94, abs=0.01)


def test_holistic_code_is_not_disentangled():
    meanings = grid_meanings(4, 2)
    # One arbitrary token per meaning in position 0, a constant in position 1.
    messages = np.stack([np.random.default_rng(0).permutation(16), np.zeros(16, int)], 1)
    assert metrics.positional_disentanglement(meanings, messages) == pytest.approx(0.0, abs=1e-9)


def test_random_code_topographic_similarity_matches_its_permutation_null():
    meanings = grid_meanings(4, 2)
    generator = np.random.default_rng(1)
    compositional = metrics.permutation_baseline(
        metrics.topographic_similarity, meanings, meanings + np.array([0, 4]), generator, 300)
    assert compositional["percentile"] == 100.0
    assert abs(compositional["null_mean"]) < 0.05
    # SCIENCE.md: a random code over 16 meanings has SD about 0.09 and p95 about 0.16.
    random_codes = [metrics.topographic_similarity(meanings, generator.integers(0, 8, (16, 2)))
                    for _ in range(300)]
    assert 0.06 < np.std(random_codes) < 0.12
    assert 0.1 < np.quantile(random_codes, 0.95) < 0.22


def test_causal_influence_known_answers():
    states, count = 5, 4
    ignoring = np.full((states, count, 3), 1 / 3)
    uniform = np.full(count, 1 / count)
    assert metrics.causal_influence(ignoring, uniform) == pytest.approx(0.0, abs=1e-12)
    obeying = np.broadcast_to(np.eye(count), (states, count, count))
    assert metrics.causal_influence(obeying, uniform) == pytest.approx(math.log(count))
    # With a marginal p(m) the obeying listener's CIC is the entropy of p(m).
    skewed = np.array([0.7, 0.1, 0.1, 0.1])
    entropy = -(skewed * np.log(skewed)).sum()
    assert metrics.causal_influence(obeying, skewed) == pytest.approx(entropy)
    with pytest.raises(ValueError, match=r"message_probs must have shape \[M\] = \[4\]"):
        metrics.causal_influence(obeying, np.ones(3) / 3)
    with pytest.raises(ValueError, match="listener_probs must have shape"):
        metrics.causal_influence(np.ones((4, 4)), uniform)


def test_information_and_entropy_from_counts():
    x = np.repeat(np.arange(4), 25)
    assert metrics.entropy(x) == pytest.approx(math.log(4))
    assert metrics.mutual_information(x, x) == pytest.approx(math.log(4))
    constant = np.zeros(100, int)
    assert metrics.mutual_information(x, constant) == pytest.approx(0.0, abs=1e-12)
    # Small samples bias MI upwards: shuffled pairs still show information.
    generator = np.random.default_rng(0)
    small = generator.integers(0, 8, 20)
    assert metrics.positive_signalling(small, generator.permutation(small)) > 0.5


def test_message_entropy_vocabulary_and_frequent_messages():
    messages = np.array([[0, 1], [0, 2], [0, 1], [0, 3]])
    entropy = metrics.message_entropy(messages)
    assert entropy["per_position"][0] == 0.0
    assert entropy["whole"] == pytest.approx(entropy["per_position"][1])
    assert metrics.vocabulary_use(messages, 8) == 4
    with pytest.raises(ValueError, match=r"tokens in \[0, 3\)"):
        metrics.vocabulary_use(messages, 3)
    meanings = np.array([[0], [1], [0], [1]])
    unique, frequent = metrics.most_frequent_messages(meanings, messages)
    assert unique.tolist() == [[0], [1]] and frequent.tolist() == [[0, 1], [0, 2]]


def reference_edit_distance(left, right) -> int:
    """Levenshtein distance by the textbook dynamic programme."""
    previous = list(range(len(right) + 1))
    for i, token in enumerate(left, 1):
        current = [i]
        for j, other in enumerate(right, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (token != other)))
        previous = current
    return previous[-1]


def test_edit_distances_match_the_textbook_programme():
    left = np.array([[1, 2, 3], [2, 3, 1], [4, 5, 6]])
    assert metrics.edit_distance_matrix(left[:1], left).tolist() == [[0, 2, 3]]
    generator = np.random.default_rng(0)
    for length, vocab in [(1, 2), (2, 3), (3, 8), (5, 3)]:
        messages = generator.integers(0, vocab, (30, length))
        expected = [[reference_edit_distance(a, b) for b in messages] for a in messages]
        assert metrics.edit_distance_matrix(messages, messages).tolist() == expected


def test_spearman_keeps_average_ranks_and_the_constant_case():
    # The ties of 1, 1 share rank 1.5; the Pearson correlation of (1.5, 1.5, 3) and (1, 2, 3).
    assert metrics.spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert metrics.spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert metrics.spearman([0, 0, 0], [1, 2, 3]) == 0.0


def test_topographic_similarity_values_stay_those_already_logged():
    # Values of the earlier hand-written ranks and edit distances: metrics.jsonl holds such
    # values, so they must not move by one bit. scipy.stats.spearmanr gives
    # 0.7262018734136478 for the first (np.corrcoef rounds differently).
    generator = np.random.default_rng(7)
    meanings = generator.integers(0, 4, (40, 2))
    assert metrics.topographic_similarity(meanings, meanings % 3) == 0.726201873413648
    messages = generator.integers(0, 5, (40, 3))
    assert metrics.topographic_similarity(meanings, messages) == -0.006677485113100552


def test_interventions():
    generator = np.random.default_rng(0)
    messages = np.arange(20).reshape(10, 2)
    shuffled = metrics.intervene(messages, "shuffled", 20, generator)
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, messages))
    assert (shuffled != messages).any()
    random = metrics.intervene(messages, "random", 3, generator)
    assert random.shape == messages.shape and random.max() < 3
    with pytest.raises(ValueError, match="intervention mode"):
        metrics.intervene(messages, "mute", 3, generator)
    matrix = metrics.cross_play(lambda i, j: float(i == j), 3, 3)
    assert (matrix == np.eye(3)).all()
    with pytest.raises(ValueError, match="same length n"):
        metrics.topographic_similarity(np.zeros((3, 2)), np.zeros((4, 2)))


def test_token_usage_is_the_share_of_each_token_by_attribute_value():
    from socius.societies.language.metrics import token_usage

    meanings = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    messages = np.array([[0, 2], [0, 3], [1, 2], [1, 3]])  # token 0/1 name colour, 2/3 shape
    usage = token_usage(meanings, messages, vocab_size=5)
    assert usage.shape == (2, 2, 5)
    assert usage[0, 0].tolist() == [0.5, 0.0, 0.25, 0.25, 0.0]
    assert usage[1, 1].tolist() == [0.25, 0.25, 0.0, 0.5, 0.0]
    assert np.allclose(usage.sum(-1), 1.0)
    with pytest.raises(ValueError, match="tokens in 0..4"):
        token_usage(meanings, messages + 2, vocab_size=5)
