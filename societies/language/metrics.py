"""Language metrics as pure functions of numpy arrays (definitions: SCIENCE.md).

Inputs follow one convention:
- ``meanings``: ``[n, A]`` integer attributes of what the speaker saw (e.g. colour, shape);
- ``messages``: ``[n, L]`` integer tokens, an episode's first utterance;
- information is measured in nats, from empirical counts.

Estimates built on mutual information are biased upwards on small samples, so every
such function has a ``permuted`` twin computed on shuffled messages (see
``permutation_baseline``); report the two side by side.

Ranks come from scipy and edit distances from rapidfuzz. The Pearson sum over ranks is
written here rather than taken from ``scipy.stats.spearmanr``, whose rounding differs in
the last bit and would change topographic similarities already logged in metrics.jsonl.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cdist
from scipy.stats import rankdata


def _as_2d(name: str, array, dtype=np.int64) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape [n, width]; got shape {array.shape}")
    return array.astype(dtype)


def _check_pairs(meanings, messages) -> tuple[np.ndarray, np.ndarray]:
    meanings, messages = _as_2d("meanings", meanings), _as_2d("messages", messages)
    if len(meanings) != len(messages):
        raise ValueError(f"meanings and messages must have the same length n; got "
                         f"{len(meanings)} and {len(messages)}")
    if len(meanings) < 2:
        raise ValueError("at least two (meaning, message) pairs are needed")
    return meanings, messages


def _codes(rows: np.ndarray) -> np.ndarray:
    """One integer label per distinct row of ``rows [n, w]``."""
    return np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1)


def entropy(labels) -> float:
    """Entropy in nats of the empirical distribution of ``labels`` (rows if 2-D)."""
    labels = _codes(_as_2d("labels", labels))
    counts = np.bincount(labels).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(x, y) -> float:
    """``I(x; y)`` in nats from the empirical joint counts of two label arrays (rows if 2-D)."""
    x, y = _codes(_as_2d("x", x)), _codes(_as_2d("y", y))
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    joint = np.zeros((x.max() + 1, y.max() + 1))
    np.add.at(joint, (x, y), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    inside = joint > 0
    return float((joint[inside] * np.log(joint[inside] / outer[inside])).sum())


def spearman(a, b) -> float:
    """Spearman rank correlation of two equal-length vectors (0 if either is constant)."""
    # Not scipy.stats.spearmanr: its np.corrcoef moves the last bit of about one topsim in
    # four (module doc). Average ranks are exact half-integers, so centring them gives the
    # same numbers as the earlier hand-written ranks, and the sum below is unchanged.
    ra, rb = rankdata(np.asarray(a, np.float64)), rankdata(np.asarray(b, np.float64))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    scale = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / scale) if scale > 0 else 0.0


def edit_distance_matrix(left, right) -> np.ndarray:
    """Levenshtein distances ``[P, Q]`` between every row of ``left[P, L]`` and ``right[Q, L]``."""
    return cdist([tuple(row) for row in np.asarray(left).tolist()],
                 [tuple(row) for row in np.asarray(right).tolist()],
                 scorer=Levenshtein.distance, dtype=np.int64)


def topographic_similarity(meanings, messages) -> float:
    """Spearman correlation over pairs i < j of Hamming meaning distance and message edit
    distance (Brighton & Kirby 2006); 1.0 for one token per attribute at its own position."""
    meanings, messages = _check_pairs(meanings, messages)
    first, second = np.triu_indices(len(meanings), k=1)
    meaning_distance = (meanings[first] != meanings[second]).sum(axis=1)
    message_distance = edit_distance_matrix(messages, messages)[first, second]
    return spearman(meaning_distance, message_distance)


def _disentanglement(meanings: np.ndarray, symbols: np.ndarray) -> float:
    """Mean over symbol columns with H > 0 of (I(s; a1) - I(s; a2)) / H(s)."""
    scores = []
    for column in symbols.T:
        h = entropy(column)
        if h <= 1e-12:
            continue
        information = sorted((mutual_information(column, attribute)
                              for attribute in meanings.T), reverse=True)
        second = information[1] if len(information) > 1 else 0.0
        scores.append((information[0] - second) / h)
    return float(np.mean(scores)) if scores else 0.0


def positional_disentanglement(meanings, messages) -> float:
    """posdis (Chaabouni et al. 2020): per position, the information gap between its best
    and second-best attribute over its entropy, averaged over positions in use."""
    meanings, messages = _check_pairs(meanings, messages)
    return _disentanglement(meanings, messages)


def bag_of_symbols_disentanglement(meanings, messages, vocab_size: int) -> float:
    """bosdis (Chaabouni et al. 2020): posdis with symbol counts ``n_v`` in place of positions."""
    meanings, messages = _check_pairs(meanings, messages)
    counts = (messages[:, :, None] == np.arange(vocab_size)).sum(axis=1)
    return _disentanglement(meanings, counts)


def message_entropy(messages) -> dict[str, float | list[float]]:
    """``H(m)`` in nats over whole messages, and per position."""
    messages = _as_2d("messages", messages)
    return {"whole": entropy(messages),
            "per_position": [entropy(column) for column in messages.T]}


def vocabulary_use(messages, vocab_size: int) -> int:
    """Number of distinct tokens used, out of ``vocab_size``."""
    messages = _as_2d("messages", messages)
    if messages.size and (messages.min() < 0 or messages.max() >= vocab_size):
        raise ValueError(f"messages must hold tokens in [0, {vocab_size}); got "
                         f"[{messages.min()}, {messages.max()}]")
    return int(len(np.unique(messages)))


def positive_signalling(messages, goals) -> float:
    """``I(m; goal)`` in nats over evaluation episodes (Lowe et al. 2019)."""
    return mutual_information(messages, goals)


def causal_influence(listener_probs, message_probs) -> float:
    """CIC (Lowe et al. 2019) in nats, averaged over states.

    ``listener_probs[S, M, A]`` is the listener's action distribution in state s after
    intervening with message m; ``message_probs[M]`` is p(m), the marginal over evaluation
    states (or uniform). ``sum_m p(m) sum_a p(a|do m) log(p(a|do m) / p(a))``.
    """
    probs = np.asarray(listener_probs, np.float64)
    weights = np.asarray(message_probs, np.float64)
    if probs.ndim != 3:
        raise ValueError(f"listener_probs must have shape [S, M, A]; got {probs.shape}")
    if weights.shape != (probs.shape[1],):
        raise ValueError(f"message_probs must have shape [M] = [{probs.shape[1]}]; "
                         f"got {weights.shape}")
    if (weights < 0).any() or abs(weights.sum() - 1) > 1e-6:
        raise ValueError("message_probs must be a probability vector (>= 0, summing to 1)")
    if (probs < 0).any() or np.abs(probs.sum(-1) - 1).max() > 1e-5:
        raise ValueError("listener_probs must be distributions over the last axis")
    marginal = np.einsum("m,sma->sa", weights, probs)
    ratio = np.where(probs > 0, probs / np.maximum(marginal[:, None, :], 1e-300), 1.0)
    per_state = np.einsum("m,sma->s", weights, probs * np.log(ratio))
    return float(per_state.mean())


def most_frequent_messages(meanings, messages) -> tuple[np.ndarray, np.ndarray]:
    """Each unique meaning once, with its most frequent message (ties: the smallest)."""
    meanings, messages = _check_pairs(meanings, messages)
    unique, meaning_code = np.unique(meanings, axis=0, return_inverse=True)
    message_table, message_code = np.unique(messages, axis=0, return_inverse=True)
    counts = np.zeros((len(unique), len(message_table)), dtype=np.int64)
    np.add.at(counts, (meaning_code.reshape(-1), message_code.reshape(-1)), 1)
    return unique, message_table[counts.argmax(axis=1)]


def permutation_baseline(metric: Callable[[np.ndarray, np.ndarray], float], meanings,
                         messages, generator: np.random.Generator,
                         permutations: int = 1000) -> dict[str, float]:
    """The metric on the true pairing against ``permutations`` shuffles of the messages:
    its value, the null mean, the null's 99th percentile and the value's percentile."""
    meanings, messages = _check_pairs(meanings, messages)
    value = metric(meanings, messages)
    null = np.array([metric(meanings, messages[generator.permutation(len(messages))])
                     for _ in range(permutations)])
    return {"value": float(value), "null_mean": float(null.mean()),
            "null_p99": float(np.quantile(null, 0.99)),
            "percentile": float((null < value).mean() * 100)}


def intervene(messages, mode: str, vocab_size: int, generator: np.random.Generator):
    """Messages for the intervention test: ``true``, ``shuffled`` across episodes, or
    ``random`` uniform tokens; ``[n, L]`` in, ``[n, L]`` out."""
    messages = _as_2d("messages", messages)
    if mode == "true":
        return messages.copy()
    if mode == "shuffled":
        return messages[generator.permutation(len(messages))]
    if mode == "random":
        return generator.integers(0, vocab_size, messages.shape)
    raise ValueError(f"intervention mode must be one of true, shuffled, random; got {mode!r}")


def cross_play(success: Callable[[int, int], float], speakers: int,
               listeners: int) -> np.ndarray:
    """``S[i, j]``: the success of speaker i with listener j, from ``success(i, j)``."""
    return np.array([[success(i, j) for j in range(listeners)] for i in range(speakers)])


def token_usage(meanings, messages, vocab_size: int) -> np.ndarray:
    """``U[a, v, t]``: the share of the tokens said when attribute ``a`` of the meaning has
    value ``v`` that are token ``t`` (tokens counted at every position; NaN for values never
    seen). Rows of a code that names attributes put their mass on few tokens."""
    meanings, messages = _check_pairs(meanings, messages)
    if messages.size and (messages.min() < 0 or messages.max() >= vocab_size):
        raise ValueError(f"messages must hold tokens in 0..{vocab_size - 1}")
    values = int(meanings.max()) + 1 if meanings.size else 0
    usage = np.full((meanings.shape[1], values, vocab_size), np.nan)
    for attribute in range(meanings.shape[1]):
        for value in range(values):
            said = messages[meanings[:, attribute] == value].ravel()
            if said.size:
                usage[attribute, value] = np.bincount(said, minlength=vocab_size) / said.size
    return usage
