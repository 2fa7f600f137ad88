"""The log-linear model's features and weights: names, defaults and the weights file — one home
for what the decoder (:mod:`smt.decode`), MERT (:mod:`smt.tune`) and the pipeline share, so that
neither of the first two imports the other for it.

A weights file is JSON ``{"features": FEATURES, "weights": [8 numbers], …}`` (extra keys record
how the weights were tuned).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from data.io import UserError, read_json, write_json

#: The log-linear model's features, in the fixed order used by the decoder, MERT and weights files.
FEATURES = ["tm_fe", "lex_fe", "tm_ef", "lex_ef", "lm", "distortion", "word_penalty", "phrase_penalty"]
N_FEATURES = len(FEATURES)
#: Untuned Moses-like weights (see smt/decode.py's docstring for the sign convention).
DEFAULT_WEIGHTS = [0.2, 0.2, 0.2, 0.2, 0.5, 0.3, -0.5, 0.2]


def as_weights(weights) -> np.ndarray:
    """Weights as a float64[8] array; accepts a sequence in :data:`FEATURES` order or a name→value dict."""
    if isinstance(weights, dict):
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise UserError(f"unknown feature(s) {sorted(unknown)} (features: {', '.join(FEATURES)})")
        missing = [f for f in FEATURES if f not in weights]
        if missing:
            raise UserError(f"weights lack feature(s) {missing}")
        weights = [weights[f] for f in FEATURES]
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (N_FEATURES,):
        raise UserError(f"expected {N_FEATURES} weights ({', '.join(FEATURES)}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise UserError(f"weights must be finite numbers, got {w.tolist()}")
    return w


def write_weights(path, weights: Sequence[float], **extra) -> None:
    """Write a weights file ``{"features": FEATURES, "weights": [...]}`` atomically."""
    obj = {"features": list(FEATURES), "weights": [float(x) for x in weights]}
    obj.update(extra)
    write_json(path, obj)


def read_weights(path) -> np.ndarray:
    """Read a weights JSON file, checking it names the decoder's features in order."""
    obj = read_json(path)
    if not isinstance(obj, dict) or "weights" not in obj:
        raise UserError(f"{path}: not a weights file (needs a \"weights\" list)")
    if obj.get("features", list(FEATURES)) != list(FEATURES):
        raise UserError(f"{path}: features {obj.get('features')} differ from the decoder's {list(FEATURES)}")
    w = obj["weights"]
    if not isinstance(w, list) or len(w) != len(FEATURES) or not all(isinstance(x, (int, float)) for x in w):
        raise UserError(f"{path}: \"weights\" must be a list of {len(FEATURES)} numbers")
    return np.asarray(w, dtype=np.float64)
