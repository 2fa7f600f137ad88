"""The log-linear model's features and weights: names, defaults and the weights file — one home
for what the decoder (:mod:`smt.decode`), MERT (:mod:`smt.tune`) and the pipeline share, so that
neither of the first two imports the other for it.

A weights file is JSON ``{"features": FEATURES, "weights": [8 numbers], …}`` (extra keys record
how the weights were tuned); a system with lexicalised reordering (:mod:`smt.reordering`) has the
six reordering features after the eight (:data:`LEXICALISED_FEATURES`, 14 weights).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from data.io import UserError, read_json, write_json
from smt import reordering

#: The log-linear model's features, in the fixed order used by the decoder, MERT and weights files.
FEATURES = ["tm_fe", "lex_fe", "tm_ef", "lex_ef", "lm", "distortion", "word_penalty", "phrase_penalty"]
N_FEATURES = len(FEATURES)
#: Positions in a feature (or weight) vector: the four translation-model scores, the LM, distortion,
#: word and phrase penalty; with lexicalised reordering its six features start at LR.
TM, LM, DIST, WP, PP = slice(0, 4), 4, 5, 6, 7
LR = N_FEATURES
#: Untuned Moses-like weights (see smt/decode.py's docstring for the sign convention).
DEFAULT_WEIGHTS = [0.2, 0.2, 0.2, 0.2, 0.5, 0.3, -0.5, 0.2]
#: The features of a system with lexicalised reordering, and their untuned weights.
LEXICALISED_FEATURES = FEATURES + reordering.FEATURES
LEXICALISED_DEFAULT_WEIGHTS = DEFAULT_WEIGHTS + reordering.DEFAULT_WEIGHTS
#: Features whose weight MERT keeps >= 0 (:func:`smt.tune.mert`): log-probabilities (translation
#: model, LM, lexicalised reordering) and the distortion cost (−jump width). A negative weight on
#: one of them makes the decoder prefer *less* probable translations — weights that can win on a
#: thin n-best pool and decode dev at a few BLEU (README "MERT"); the penalties stay free.
NONNEGATIVE = frozenset(FEATURES[:6] + reordering.FEATURES)


def nonnegative_mask(names: Sequence[str]) -> np.ndarray:
    """Which of the features ``names`` MERT keeps non-negative (:data:`NONNEGATIVE`)."""
    return np.array([n in NONNEGATIVE for n in names], dtype=bool)


def feature_names(lexicalised: bool) -> list[str]:
    return list(LEXICALISED_FEATURES if lexicalised else FEATURES)


def default_weights(lexicalised: bool) -> list[float]:
    return list(LEXICALISED_DEFAULT_WEIGHTS if lexicalised else DEFAULT_WEIGHTS)


def as_weights(weights, lexicalised: bool = False) -> np.ndarray:
    """Weights as a float64 array in feature order (8, or 14 with ``lexicalised``); accepts a sequence
    or a name→value dict. Eight weights given to a lexicalised model get the reordering features'
    default weights appended (e.g. a weights file tuned without the reordering table)."""
    names = feature_names(lexicalised)
    if isinstance(weights, dict):
        unknown = set(weights) - set(names)
        if unknown:
            raise UserError(f"unknown feature(s) {sorted(unknown)} (features: {', '.join(names)})")
        if lexicalised and not set(reordering.FEATURES) & set(weights):
            weights = {**dict(zip(reordering.FEATURES, reordering.DEFAULT_WEIGHTS)), **weights}
        missing = [f for f in names if f not in weights]
        if missing:
            raise UserError(f"weights lack feature(s) {missing}")
        weights = [weights[f] for f in names]
    w = np.asarray(weights, dtype=np.float64)
    if lexicalised and w.shape == (N_FEATURES,):
        w = np.concatenate([w, reordering.DEFAULT_WEIGHTS])
    if w.shape != (len(names),):
        raise UserError(f"expected {len(names)} weights ({', '.join(names)}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise UserError(f"weights must be finite numbers, got {w.tolist()}")
    return w


def write_weights(path, weights: Sequence[float], **extra) -> None:
    """Write a weights file ``{"features": names, "weights": [...]}`` atomically (8 or 14 weights)."""
    names = feature_names(len(weights) == len(LEXICALISED_FEATURES))
    if len(weights) != len(names):
        raise UserError(f"{path}: {len(weights)} weights for {len(names)} features")
    obj = {"features": names, "weights": [float(x) for x in weights]}
    obj.update(extra)
    write_json(path, obj)


def read_weights(path) -> np.ndarray:
    """Read a weights JSON file, checking it names the decoder's features in order (8, or 14 with
    lexicalised reordering)."""
    obj = read_json(path)
    if not isinstance(obj, dict) or "weights" not in obj:
        raise UserError(f"{path}: not a weights file (needs a \"weights\" list)")
    names = obj.get("features", list(FEATURES))
    if names not in (list(FEATURES), list(LEXICALISED_FEATURES)):
        raise UserError(f"{path}: features {names} differ from the decoder's {list(FEATURES)} "
                        f"(+ {reordering.FEATURES} with lexicalised reordering)")
    w = obj["weights"]
    if not isinstance(w, list) or len(w) != len(names) or not all(isinstance(x, (int, float)) for x in w):
        raise UserError(f"{path}: \"weights\" must be a list of {len(names)} numbers")
    w = np.asarray(w, dtype=np.float64)
    bad = [names[i] for i in np.flatnonzero(~np.isfinite(w))]
    if bad:   # JSON readers accept NaN and Infinity
        raise UserError(f"{path}: weights must be finite numbers; {', '.join(bad)} is not")
    return w
