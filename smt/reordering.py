"""Lexicalised reordering, Moses' ``msd-bidirectional-fe`` (Koehn et al. 2005, "Edinburgh System
Description for the 2005 IWSLT Speech Translation Evaluation"; Koehn 2010 §5.4.2).

Distance-based reordering (``smt/decode.py``'s ``distortion`` feature) charges every jump the same,
whatever the words. A lexicalised model learns, for each phrase pair (f̄, ē), how it tends to be
placed relative to its neighbours, in three *orientations*:

* **monotone (m)**: directly after the previous phrase, on both sides;
* **swap (s)**: directly *before* the previous source phrase while following it in the target;
* **discontinuous (d)**: anything else.

*Bidirectional*: one distribution for the orientation of a phrase with respect to the previous
one (``prev``) and one for the orientation of the next phrase with respect to it (``next``);
*fe*: conditioned on both f̄ and ē. That is 3 × 2 = 6 features per phrase pair.

**Training** (word-based orientation, Moses' default ``wbe``): for an extracted pair with source
span ``[fs, fe)`` and target span ``[es, ee)`` in a sentence pair with alignment points A,
``prev`` is monotone if (fs − 1, es − 1) ∈ A, swap if (fe, es − 1) ∈ A, discontinuous otherwise;
``next`` is monotone if (fe, ee) ∈ A, swap if (fs − 1, ee) ∈ A, discontinuous otherwise. The
sentence start counts as the point (−1, −1) and the end as (|f|, |e|). Counts are smoothed with
the unconditional distribution p(o) of each direction (Koehn 2010 §5.4.2, σ = 0.5 as in Moses)::

    p_o(o | f̄, ē) = (σ · p(o) + count(o, f̄, ē)) / (σ + Σ_o' count(o', f̄, ē))

with p(o) add-one estimated in a direction where some orientation was never seen
(:func:`orientation_prior`), so that every probability of the table is positive.

**The table** (Moses format), one line per phrase-table pair, in the phrase table's order::

    f ||| e ||| p_prev(m) p_prev(s) p_prev(d) p_next(m) p_next(s) p_next(d)

**Decoding**: a new phrase ``[s, t)`` placed after a hypothesis whose last phrase is ``[s', p)``
has orientation monotone if s = p, swap if t = s', discontinuous otherwise (the empty hypothesis
is a phrase ending at 0); the model adds ``log p_prev(o | new pair)`` and ``log p_next(o | last
pair)``, and for the phrase that completes the sentence ``log p_next(o_end | it)`` with o_end
monotone if it ends at the last source word. Hypotheses are recombined only when their last
phrase pair and its start agree too (the future scores depend on them).
"""
from __future__ import annotations

import numpy as np

#: The orientations, in table order.
ORIENTATIONS = ("mono", "swap", "disc")
MONO, SWAP, DISC = 0, 1, 2
#: The six log-linear features of the model (order of the table's scores).
FEATURES = ["lr_prev_mono", "lr_prev_swap", "lr_prev_disc", "lr_next_mono", "lr_next_swap", "lr_next_disc"]
#: Moses' default weight of each reordering feature (LexicalReordering0= 0.3 …).
DEFAULT_WEIGHTS = [0.3] * 6
#: Smoothing σ with the unconditional orientation distribution (Moses' ``-smooth 0.5``).
SMOOTHING = 0.5
#: How p(o) is estimated (:func:`orientation_prior`); recorded in the phrases step's stamp, so that a
#: table written before unseen orientations were smoothed (with zeros the reader refuses) is rebuilt.
PRIOR = "relative frequency, add-one where an orientation is unseen"
#: The models this module can train: "msd-bidirectional-fe", or distance-based only.
MODELS = ("distance", "msd-bidirectional-fe")


def word_orientations(points: set, n_f: int, n_e: int, fs: int, fe: int, es: int, ee: int) -> tuple[int, int]:
    """(prev, next) orientation of the pair ``[fs, fe)``/``[es, ee)`` from the alignment ``points``
    ((i, j) source-target pairs), with virtual points at (−1, −1) and (n_f, n_e)."""
    if es == 0:
        prev = MONO if fs == 0 else DISC
    elif (fs - 1, es - 1) in points:
        prev = MONO
    elif (fe, es - 1) in points:
        prev = SWAP
    else:
        prev = DISC
    if ee == n_e:
        nxt = MONO if fe == n_f else DISC
    elif (fe, ee) in points:
        nxt = MONO
    elif (fs - 1, ee) in points:
        nxt = SWAP
    else:
        nxt = DISC
    return prev, nxt


def decoder_orientation(prev_start: int, prev_end: int, start: int, end: int) -> int:
    """Orientation of the source span ``[start, end)`` placed right after ``[prev_start, prev_end)``."""
    if start == prev_end:
        return MONO
    if end == prev_start:
        return SWAP
    return DISC


def orientation_prior(totals: np.ndarray) -> np.ndarray:
    """p(o) of one direction from its three orientation totals N_o: the relative frequency N_o / N
    when every orientation was seen; when one was never seen (monotone data has no swap: a corpus
    of identical sides, a 3-line corpus) add-one estimates (N_o + 1) / (N + 3) instead, so that
    p(o) — and with it every smoothed probability of the table — stays positive (a zero would be a
    log-probability of −∞, and the reader, :func:`data.moses.read_reordering_table`, refuses it).
    Tables of corpora with all three orientations are unchanged."""
    totals = np.asarray(totals, dtype=np.float64)
    if np.all(totals > 0):
        return totals / totals.sum()
    return (totals + 1.0) / (totals.sum() + len(totals))


def smoothed_probabilities(counts: np.ndarray, sigma: float = SMOOTHING, prior_counts: np.ndarray | None = None) -> np.ndarray:
    """[N, 6] orientation counts (prev m/s/d, next m/s/d) → smoothed probabilities.

    The prior p(o) of each direction is the relative frequency of o over ``prior_counts`` (all
    extracted occurrences; default: ``counts`` itself)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = (counts if prior_counts is None else np.asarray(prior_counts, dtype=np.float64)).sum(axis=0)
    out = np.empty_like(counts)
    for d in (slice(0, 3), slice(3, 6)):
        prior = orientation_prior(total[d])
        c = counts[:, d]
        out[:, d] = (sigma * prior + c) / (sigma + c.sum(axis=1, keepdims=True))
    return out
