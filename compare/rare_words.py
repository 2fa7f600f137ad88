"""Rare words (Koehn & Knowles 2017, challenge 3): word accuracy by training frequency, as
compare-mt (Neubig et al. 2019) computes it.

Every word of the test references and of a system's output is put in a bucket by how often it
occurs in the *training* target side (unseen, 1, 2–4, 5–9, 10–99, 100–999, 1000+). Within each
sentence, a word type w is matched ``min(count_hyp(w), count_ref(w))`` times (clipped counts, as
in BLEU's unigram precision). Per bucket:

    precision = matched output words / output words,
    recall    = matched reference words / reference words,
    F         = 2 P R / (P + R).

Tokens are compared as the systems write them before post-processing (tokenised, truecased),
against the tokenised references and training text of the prepared corpus.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

#: (low, high inclusive or None for open, label)
FREQ_BUCKETS: list[tuple[int, int | None, str]] = [
    (0, 0, "unseen"), (1, 1, "1"), (2, 4, "2-4"), (5, 9, "5-9"), (10, 99, "10-99"), (100, 999, "100-999"),
    (1000, None, "1000+")]


def bucket_of(count: int) -> str:
    for low, high, label in FREQ_BUCKETS:
        if count >= low and (high is None or count <= high):
            return label
    raise ValueError(f"negative count {count}")


def train_counts(sentences: Iterable[Sequence[str]]) -> Counter:
    c: Counter = Counter()
    for s in sentences:
        c.update(s)
    return c


@dataclass
class BucketAccuracy:
    bucket: str
    ref_words: int       # reference tokens in the bucket
    hyp_words: int       # output tokens in the bucket
    matched_ref: int     # reference tokens matched by the output
    matched_hyp: int     # output tokens matched by the reference (the same clipped counts)

    @property
    def recall(self) -> float:
        return self.matched_ref / self.ref_words if self.ref_words else 0.0

    @property
    def precision(self) -> float:
        return self.matched_hyp / self.hyp_words if self.hyp_words else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"bucket": self.bucket, "ref_words": self.ref_words, "hyp_words": self.hyp_words,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


def word_accuracy(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], counts: Counter) -> list[BucketAccuracy]:
    """Precision/recall/F of output words by the training frequency of each word, bucket by bucket
    (:data:`FREQ_BUCKETS` order). ``hyps`` and ``refs`` are token lists, one per test sentence."""
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} outputs but {len(refs)} references")
    acc = {label: [0, 0, 0, 0] for _, _, label in FREQ_BUCKETS}  # ref, hyp, matched_ref, matched_hyp
    for h, r in zip(hyps, refs):
        ch, cr = Counter(h), Counter(r)
        for w, n in cr.items():
            a = acc[bucket_of(counts.get(w, 0))]
            a[0] += n
            a[2] += min(n, ch.get(w, 0))
        for w, n in ch.items():
            a = acc[bucket_of(counts.get(w, 0))]
            a[1] += n
            a[3] += min(n, cr.get(w, 0))
    return [BucketAccuracy(label, *acc[label]) for _, _, label in FREQ_BUCKETS]


def length_ratio(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Output tokens ÷ reference tokens over the sentences given (< 1: the system under-translates)."""
    n_ref = sum(len(r) for r in refs)
    return sum(len(h) for h in hyps) / n_ref if n_ref else 0.0
