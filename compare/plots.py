"""The report's pictures (matplotlib, Agg backend), each written as PNG and SVG.

* :func:`length_curve` — BLEU vs source-sentence length with 95% bootstrap bands
  (Bahdanau et al. 2015, Fig. 2; Cho et al. 2014, Fig. 4).
* :func:`vocab_curve` — BLEU vs shortlist size, all sentences and sentences without unknown words
  (Bahdanau et al. 2015, Table 1 as a curve), PBSMT as the reference.
* :func:`learning_curve` — BLEU vs training-set size (Koehn & Knowles 2017, Fig. 3).
* :func:`alignment_pair` — RNNsearch attention weights α_ij (Bahdanau et al. 2015, Fig. 3) beside
  the phrase-based system's word alignment of the same sentence.

Every function takes tidy data (pandas DataFrames with the ``results.csv`` columns, or arrays),
writes ``<stem>.png`` and ``<stem>.svg`` atomically and returns the PNG bytes (for inlining).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data.io import atomic_write  # noqa: E402

#: One colour per system family, fixed so that the pictures agree with each other.
COLOURS = {"pbsmt": "#1f77b4", "rnnenc": "#ff7f0e", "rnnsearch": "#2ca02c"}


def _colour(system: str) -> str:
    return COLOURS.get(system.split("-")[0], "#7f7f7f")


def _finish(fig, ax, stem, ylabel: str, title: str, grid_axis: str = "both", which: str = "major") -> bytes:
    """Label, grid, legend, then :func:`save`."""
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis=grid_axis, which=which)
    ax.legend(fontsize=8)
    return save(fig, stem)


def save(fig, stem: str | Path) -> bytes:
    """Write ``fig`` to ``stem.png`` (150 dpi) and ``stem.svg`` atomically; return the PNG bytes."""
    stem = Path(stem)
    out = b""
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        # fixed metadata so that re-running gives byte-identical files
        meta = {"Software": None} if ext == "png" else {"Date": None, "Creator": None}
        fig.savefig(buf, format=ext, dpi=150, bbox_inches="tight", metadata=meta)
        data = buf.getvalue()
        with atomic_write(stem.with_suffix(f".{ext}"), "wb", encoding=None) as fh:
            fh.write(data)
        if ext == "png":
            out = data
    plt.close(fig)
    return out


def _log_ticks(ax, values) -> None:
    """Log x axis labelled with the plotted values themselves (1000, 2000, 5000 rather than 10³)."""
    ticks = sorted({int(v) for v in values if np.isfinite(v)})
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    if ticks:
        ax.set_xticks(ticks, [f"{t:,}" for t in ticks])


def _band(ax, x, df: pd.DataFrame, label: str, colour: str, style: str = "-", marker: str = "o") -> None:
    ax.plot(x, df["bleu"].to_numpy(), style, marker=marker, color=colour, label=label)
    ax.fill_between(x, df["ci_low"].to_numpy(float), df["ci_high"].to_numpy(float), color=colour, alpha=0.18, lw=0)


def length_curve(df: pd.DataFrame, stem: str | Path, title: str = "") -> bytes:
    """``df``: rows of experiment ``length`` (system, bucket, bleu, ci_low, ci_high, n), buckets in order."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    buckets = list(dict.fromkeys(df["bucket"]))
    x = np.arange(len(buckets))
    for system, g in df.groupby("system", sort=False):
        g = g.set_index("bucket").loc[buckets]
        _band(ax, x, g, system, _colour(system))
    counts = df.drop_duplicates("bucket").set_index("bucket").loc[buckets, "n"].astype(int)
    ax.set_xticks(x, [f"{b}\n(n={c})" for b, c in zip(buckets, counts)])
    ax.set_xlabel("source sentence length (tokens)")
    ax.set_ylabel("BLEU (95% bootstrap CI)")
    ax.set_title(title or "BLEU vs source-sentence length")
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, stem)


def vocab_curve(df: pd.DataFrame, stem: str | Path, reference: pd.DataFrame | None = None, title: str = "") -> bytes:
    """``df``: RNNsearch rows (vocab_size, bucket in {all, no-unk}, bleu, CI; bucket ``bpe``: the BPE
    model, a horizontal line); ``reference``: PBSMT rows
    (bucket ``all`` without vocab_size → a horizontal line; ``no-unk`` per vocab_size → dashed curve)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for bucket, style, marker in (("all", "-", "o"), ("no-unk", "--", "s")):
        g = df[df["bucket"] == bucket].sort_values("vocab_size")
        if len(g):
            _band(ax, g["vocab_size"].to_numpy(float), g, f"RNNsearch, {bucket} sentences", _colour("rnnsearch"), style, marker)
    bpe = df[df["bucket"] == "bpe"]
    if len(bpe):  # the main model reads BPE units: no word is unknown to it
        r = bpe.iloc[0]
        ax.axhline(r["bleu"], color=_colour("rnnsearch"), lw=1.2, ls=":", label="RNNsearch, BPE units (no unknown words)")
        ax.axhspan(r["ci_low"], r["ci_high"], color=_colour("rnnsearch"), alpha=0.08, lw=0)
    if reference is not None and len(reference):
        allrow = reference[(reference["bucket"] == "all")]
        if len(allrow):
            r = allrow.iloc[0]
            ax.axhline(r["bleu"], color=_colour("pbsmt"), lw=1.2, label="PBSMT, all sentences")
            ax.axhspan(r["ci_low"], r["ci_high"], color=_colour("pbsmt"), alpha=0.12, lw=0)
        g = reference[reference["bucket"] == "no-unk"].sort_values("vocab_size")
        if len(g):
            _band(ax, g["vocab_size"].to_numpy(float), g, "PBSMT, same no-unk sentences", _colour("pbsmt"), "--", "s")
    _log_ticks(ax, pd.concat([df["vocab_size"], reference["vocab_size"]] if reference is not None else [df["vocab_size"]])
               .dropna().to_numpy(float))
    ax.set_xlabel("vocabulary (shortlist) size K, log scale")
    return _finish(fig, ax, stem, "BLEU (95% bootstrap CI)", title or "BLEU vs vocabulary size", which="both")


def rare_words_curve(df: pd.DataFrame, stem: str | Path, title: str = "") -> bytes:
    """``df``: rows (system, bucket, f1) from :func:`compare.report.rare_words_table`, buckets in order."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    order = list(dict.fromkeys(df["bucket"]))
    for system, g in df.groupby("system", sort=False):
        g = g.set_index("bucket").reindex(order)
        ax.plot(range(len(order)), g["f1"].to_numpy(float), marker="o", label=system, color=_colour(system))
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("frequency of the word in the training target side")
    ax.set_ylabel("word F-measure")
    ax.set_ylim(0, 1)
    ax.set_title(title or "Word accuracy by training frequency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, stem)


def domain_bars(t: pd.DataFrame, stem: str | Path, title: str = "") -> bytes:
    """Grouped bars: BLEU (95% CI) of every system per test set (in-domain first)."""
    sets = list(dict.fromkeys(t["test set"]))
    systems = list(dict.fromkeys(t["system"]))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = 0.8 / max(len(systems), 1)
    for k, name in enumerate(systems):
        g = t[t["system"] == name].set_index("test set").reindex(sets)
        x = np.arange(len(sets)) + k * width
        err = np.vstack([(g["BLEU"] - g["ci_low"]).to_numpy(float), (g["ci_high"] - g["BLEU"]).to_numpy(float)])
        ax.bar(x, g["BLEU"].to_numpy(float), width, yerr=err, capsize=3, label=name, color=_colour(name))
    ax.set_xticks(np.arange(len(sets)) + width * (len(systems) - 1) / 2, sets)
    return _finish(fig, ax, stem, "BLEU (95% bootstrap CI)", title or "BLEU in and out of domain", grid_axis="y")


def beam_curve(t: pd.DataFrame, stem: str | Path, title: str = "") -> bytes:
    """``t``: rows of :func:`compare.report.beam_table`. Left: NMT BLEU vs beam (solid: length-normalised,
    dashed: not); right: PBSMT BLEU vs stack size. Log x axes."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for (name, norm), g in t[t["normalised"].notna()].groupby(["system", "normalised"], sort=False):
        g = g.sort_values("size")
        a.plot(g["size"], g["bleu"], marker="o", ls="-" if norm else "--", color=_colour(name),
               label=f"{name}, {'normalised' if norm else 'unnormalised'}")
    for name, g in t[t["normalised"].isna()].groupby("system", sort=False):
        g = g.sort_values("size")
        b.plot(g["size"], g["bleu"], marker="s", color=_colour(name), label=name)
    for ax, lab in ((a, "beam size"), (b, "stack size")):
        ax.set_xscale("log")
        ax.set_xlabel(f"{lab} (log scale)")
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    a.set_ylabel("BLEU (test sample)")
    fig.suptitle(title or "BLEU vs beam / stack size")
    fig.tight_layout()
    return save(fig, stem)


def significance_matrix(sig: pd.DataFrame, order: Sequence[str], stem: str | Path, title: str = "") -> bytes:
    """``sig``: the overall paired tests (system_a, system_b, delta = BLEU_a − BLEU_b, p_value,
    significant). Cell (row a, column b) = ΔBLEU of a over b; * p < 0.05, ** p < 0.01."""
    n = len(order)
    m = np.full((n, n), np.nan)
    marks = [["" for _ in range(n)] for _ in range(n)]
    idx = {name: i for i, name in enumerate(order)}
    for _, r in sig.iterrows():
        a, b = idx.get(r["system_a"]), idx.get(r["system_b"])
        if a is None or b is None:
            continue
        star = "**" if r["p_value"] < 0.01 else "*" if r["significant"] else ""
        m[a, b], m[b, a] = r["delta"], -r["delta"]
        marks[a][b] = marks[b][a] = star
    fig, ax = plt.subplots(figsize=(1.1 * n + 2.5, 0.8 * n + 1.8))
    lim = float(np.nanmax(np.abs(m))) if np.isfinite(m).any() else 1.0
    im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim)
    for i in range(n):
        for j in range(n):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:+.1f}{marks[i][j]}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n), order, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(n), order, fontsize=8)
    ax.set_title(title or "ΔBLEU (row − column); * p<0.05, ** p<0.01")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return save(fig, stem)


def learning_curve(df: pd.DataFrame, stem: str | Path, title: str = "") -> bytes:
    """``df``: rows of experiment ``learning`` (system family, train_size, bleu, CI)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for system, g in df.groupby("system", sort=False):
        g = g.sort_values("train_size")
        _band(ax, g["train_size"].to_numpy(float), g, system, _colour(system))
    _log_ticks(ax, df["train_size"].dropna().to_numpy(float))
    ax.set_xlabel("training sentence pairs, log scale")
    ax.set_ylabel("BLEU (95% bootstrap CI)")
    ax.set_title(title or "Learning curve")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save(fig, stem)


def links_matrix(links: Sequence[tuple[int, int]], n_src: int, n_tgt: int) -> np.ndarray:
    """``[n_tgt, n_src]`` 0/1 grid from Pharaoh (source, target) links; out-of-range links are dropped."""
    m = np.zeros((n_tgt, n_src))
    for i, j in links:
        if 0 <= i < n_src and 0 <= j < n_tgt:
            m[j, i] = 1.0
    return m


def alignment_pair(attn: np.ndarray | None, nmt_src: Sequence[str], nmt_hyp: Sequence[str],
                   smt_links: Sequence[tuple[int, int]] | None, smt_src: Sequence[str], smt_hyp: Sequence[str],
                   stem: str | Path, title: str = "") -> bytes:
    """Attention heat-map ``attn [T_hyp, S_src]`` (left) beside the SMT alignment grid (right)."""
    panels = [(attn, nmt_src, nmt_hyp, "RNNsearch attention α_ij", "Greys")]
    if smt_links is not None:
        panels.append((links_matrix(smt_links, len(smt_src), len(smt_hyp)), smt_src, smt_hyp,
                       "PBSMT word alignment (Pharaoh)", "Blues"))
    panels = [p for p in panels if p[0] is not None]
    if not panels:
        raise ValueError("nothing to draw")
    widths = [max(3.0, 0.32 * len(p[1]) + 1.5) for p in panels]
    height = max(3.0, 0.32 * max(len(p[2]) for p in panels) + 1.8)
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(widths), height), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, (mat, xs, ys, name, cmap) in zip(axes[0], panels):
        mat = np.asarray(mat, dtype=float)
        ax.imshow(mat, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(mat.shape[1]), list(xs)[:mat.shape[1]], rotation=90, fontsize=8)
        ax.set_yticks(range(mat.shape[0]), list(ys)[:mat.shape[0]], fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("source")
    axes[0][0].set_ylabel("translation")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save(fig, stem)
