"""The statistics and wording behind the report's findings: every sentence the page states as a
finding is written here, from a paired bootstrap test (p < ``ALPHA``) or says that it is not
significant. The home for the "tests behind claims" (seed variance, multiple-testing corrections,
bootstrap of gap growth)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from evaluation import buckets as bk
from evaluation.significance import ALPHA

#: Below this overall BLEU an NMT system is flagged as under-trained in the findings (the untrained
#: quick models of earlier rounds scored 0.7-2.2; rnnenc is the weak architecture and may stay below 10).
UNDERTRAINED_BLEU = 5.0


def findings(sig: pd.DataFrame, buckets: Sequence[bk.Bucket]) -> list[str]:
    """Plain-language statements, each backed by a paired bootstrap test (p < 0.05) or saying it is not."""
    out = []
    if sig.empty:
        return out

    def say(r, where: str) -> str:
        a, b = r["system_a"], r["system_b"]
        if r["significant"]:
            hi, lo = (a, b) if r["delta"] > 0 else (b, a)
            bh, bl = max(r["bleu_a"], r["bleu_b"]), min(r["bleu_a"], r["bleu_b"])
            return (f"{where}: {hi} is better than {lo} ({bh:.2f} vs {bl:.2f} BLEU, "
                    f"paired bootstrap p = {r['p_value']:.4f} < {ALPHA}).")
        return (f"{where}: the difference between {a} ({r['bleu_a']:.2f}) and {b} ({r['bleu_b']:.2f}) "
                f"is not significant (p = {r['p_value']:.4f}).")

    overall = sig[(sig["experiment"] == "overall")]
    mains = {"pbsmt", "rnnenc", "rnnsearch"}
    for _, r in overall.iterrows():
        if r["system_a"] in mains and r["system_b"] in mains:
            out.append(say(r, "All test sentences"))
    if buckets:
        longest, shortest = buckets[-1].label, buckets[0].label
        att = sig[(sig["experiment"] == "length") & sig["system_a"].isin(["rnnenc", "rnnsearch"])
                  & sig["system_b"].isin(["rnnenc", "rnnsearch"])]
        gap = {}  # bucket -> BLEU(rnnsearch) - BLEU(rnnenc)
        for label, where in ((longest, f"Longest sentences ({longest} tokens)"), (shortest, f"Shortest sentences ({shortest} tokens)")):
            r = att[att["bucket"] == label]
            if len(r):
                r = r.iloc[0]
                gap[label] = r["delta"] if r["system_a"] == "rnnsearch" else -r["delta"]
                out.append(say(r, where))
        if longest in gap and shortest in gap and longest != shortest:
            r = att[att["bucket"] == longest].iloc[0]
            trained = all(v >= UNDERTRAINED_BLEU for _, o in overall.iterrows() for n, v in
                          ((o["system_a"], o["bleu_a"]), (o["system_b"], o["bleu_b"])) if n in ("rnnenc", "rnnsearch"))
            if r["significant"] and trained and gap[longest] > 0 and gap[longest] > gap[shortest]:
                out.append(f"Attention helps most on long sentences, as in Bahdanau et al. (2015, Fig. 2): "
                           f"rnnsearch's lead over rnnenc grows from {gap[shortest]:+.2f} BLEU ({shortest} tokens) "
                           f"to {gap[longest]:+.2f} ({longest} tokens).")
            elif r["significant"] and gap[longest] > 0 and gap[longest] > gap[shortest]:
                out.append(f"rnnsearch's lead over rnnenc grows from {gap[shortest]:+.2f} BLEU ({shortest} tokens) to "
                           f"{gap[longest]:+.2f} ({longest} tokens), but an NMT system is under-trained "
                           f"(< {UNDERTRAINED_BLEU:g} BLEU), so no claim is made about attention.")
            else:
                out.append(f"This run does not show attention helping more on long sentences: rnnsearch's lead over "
                           f"rnnenc is {gap[shortest]:+.2f} BLEU on {shortest} tokens and {gap[longest]:+.2f} on "
                           f"{longest} tokens{'' if r['significant'] else ' (not significant there)'}.")
        smt = sig[(sig["experiment"] == "length") & (sig["bucket"] == longest)
                  & ((sig["system_a"] == "pbsmt") | (sig["system_b"] == "pbsmt"))]
        for _, r in smt.iterrows():
            out.append(say(r, f"Longest sentences ({longest} tokens)"))
    for _, r in sig[sig["experiment"] == "vocab"].iterrows():
        out.append(say(r, f"Sentences without unknown words ({r['bucket'].split()[-1]})"))
    weak = sorted({name: bleu for _, r in overall.iterrows() for name, bleu in
                   ((r["system_a"], r["bleu_a"]), (r["system_b"], r["bleu_b"]))
                   if name in ("rnnenc", "rnnsearch") and bleu < UNDERTRAINED_BLEU}.items())
    if weak:
        out.append("Caution: " + ", ".join(f"{n} reaches only {b:.1f} BLEU" for n, b in weak) +
                   f" — far from trained under this profile, so the NMT curves say little about the models; "
                   f"the full profile (PROFILE=full) trains them to convergence.")
    return out



def domain_findings(t: pd.DataFrame) -> list[str]:
    """Which paradigm suffers more out of domain, by the share of its in-domain BLEU it keeps (an
    absolute drop favours the weaker system, which has less to lose)."""
    out = []
    ind = t[t["test set"] == "in-domain"].set_index("system")["BLEU"]
    for ext, g in t[t["test set"] != "in-domain"].groupby("test set"):
        b = g.set_index("system")["BLEU"]
        if not {"pbsmt", "rnnsearch"} <= set(b.index) or not ind.get("pbsmt") or not ind.get("rnnsearch"):
            continue
        keep = {n: b[n] / ind[n] for n in ("pbsmt", "rnnsearch")}
        more = keep["rnnsearch"] < keep["pbsmt"]
        out.append(f"Out of domain ({ext}): rnnsearch keeps {keep['rnnsearch']:.0%} of its in-domain BLEU "
                   f"({ind['rnnsearch']:.2f} → {b['rnnsearch']:.2f}), pbsmt {keep['pbsmt']:.0%} "
                   f"({ind['pbsmt']:.2f} → {b['pbsmt']:.2f}) — NMT suffers {'more' if more else 'less'} out of domain"
                   + (", as Koehn & Knowles (2017) found." if more else ", unlike Koehn & Knowles (2017)."))
    return out



def beam_findings(t: pd.DataFrame) -> list[str]:
    """What the sweep shows, per NMT system: does BLEU fall with wide beams (Koehn & Knowles Fig. 10)?"""
    out = []
    for name, g in t[t["normalised"].notna()].groupby("system", sort=False):
        for norm, h in g.groupby("normalised"):
            h = h.sort_values("size")
            best = h.loc[h["bleu"].idxmax()]
            widest = h.iloc[-1]
            what = "with length normalisation" if norm else "without length normalisation"
            if widest["bleu"] < best["bleu"] - 0.5:
                out.append(f"{name} {what}: BLEU peaks at beam {int(best['size'])} ({best['bleu']:.2f}) and falls to "
                           f"{widest['bleu']:.2f} at beam {int(widest['size'])}, as Koehn & Knowles (2017) found; "
                           f"search errors {widest['search_errors']:.0%}, model errors {widest['model_errors']:.0%} there.")
            else:
                out.append(f"{name} {what}: BLEU {h.iloc[0]['bleu']:.2f} at beam {int(h.iloc[0]['size'])}, best "
                           f"{best['bleu']:.2f} at {int(best['size'])}, {widest['bleu']:.2f} at {int(widest['size'])} — "
                           f"no fall with wide beams in this run.")
    return out


def time_cap_notes(systems: dict) -> list[str]:
    """A line for every system whose training was cut short by a wall-time cap (``--max-minutes``):
    its numbers then depend on the machine's speed and load, not only on the settings."""
    out = []
    for name, s in sorted(systems.items()):
        reason = str(s.scores.get("stop_reason") or "")
        if reason.startswith("time budget"):
            out.append(f"Note: {name} stopped at the wall-time cap ({reason}, after {s.scores.get('steps')} updates), "
                       f"not by early stopping or its update budget; another machine would give other numbers.")
    return out
