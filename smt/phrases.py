"""Phrase-pair extraction and scoring: the translation model of phrase-based SMT.

Given a word-aligned parallel corpus (source = foreign ``f``, target = English ``e``; alignment
points ``i-j`` with ``i`` the source and ``j`` the target position, 0-based), this module

1. extracts every phrase pair *consistent* with the alignment (Koehn, *Statistical Machine
   Translation*, 2010, §5.2.3, Figure 5.5 "phrase extraction algorithm"): no word inside the pair
   is aligned to a word outside it, the pair holds at least one alignment point, and source
   phrases are extended by unaligned source words at their edges;
2. scores each pair with the four Moses features (Koehn, Och & Marcu 2003, "Statistical
   phrase-based translation", §3.1 and §3.3):

   * phrase translation probabilities by relative frequency (2010 eq. 5.4)
     ``φ(f|e) = count(f, e) / Σ_f' count(f', e)`` and ``φ(e|f) = count(f, e) / Σ_e' count(f, e')``,
     where every extracted occurrence counts once;
   * lexical weights (2003 §3.3)
     ``lex(f|e, a) = Π_i 1/|{j : (i, j) ∈ a}| Σ_{(i, j) ∈ a} w(f_i | e_j)``, an unaligned ``f_i``
     scoring ``w(f_i | NULL)``; the word translation table ``w(f|e) = count(f, e) / count(e)`` is
     estimated from the word alignment itself (unaligned words counted as aligned to NULL, as in
     Moses' ``train-model.perl``). When a phrase pair was seen with several word alignments, the
     paper uses the alignment with the highest lexical weight (max over alignments) — so do we.
     ``lex(e|f)`` is the mirror image.
   * optionally both φ from *smoothed* counts (Foster, Kuhn & Johnson 2006, "Phrasetable
     smoothing for statistical machine translation"): Good-Turing discounting (§3.1) or
     Kneser-Ney (§3.2), as Moses' ``--GoodTuring`` / ``--KneserNey`` compute them
     (:func:`good_turing_discounts`, :func:`kneser_ney_counts`); rare pairs lose probability
     to unseen translations instead of scoring φ = 1 on one observation.

3. writes a Moses text phrase table (gzip when the name ends in ``.gz``), sorted by source phrase::

       f ||| e ||| φ(f|e) lex(f|e) φ(e|f) lex(e|f) ||| 0-0 1-1 ||| count_e count_f count_fe

   The 4th field is the most frequent within-phrase word alignment (source-target, 0-based);
   the counts are the target phrase, source phrase and pair counts before pruning. Only the
   ``table_limit`` best target options per source phrase (by φ(e|f)) are kept (Moses' ``-ttable-limit``).

:func:`read_phrase_table` reads such a table back for the decoder. With a reordering path,
every extracted occurrence's orientation is counted too and the msd-bidirectional-fe reordering
table of the same pairs is written beside it (without one they are not counted: the phrase step
of a distance-only system is ~15% faster, its table the same) (:mod:`smt.reordering`; :func:`read_reordering_table`).

``build_phrase_table(..., shards=K)`` builds the same tables in bounded memory: a corpus-wide
pass (:class:`CorpusTotals`) then one streaming pass per shard of source phrases, merged from
sorted files (README "Cost as the corpus grows").

CLI: ``python -m smt phrases --src F --tgt F --align F --out table.gz [--shards K --jobs J]``.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import heapq
import itertools
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from array import array
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from data.io import UserError, atomic_write, iter_lines, progress, read_lines
from data.moses import (PHI_EF, PhraseOption, _parse_points, read_phrase_table,  # noqa: F401 (re-exported)
                        read_reordering_table, source_ngrams)
from smt.reordering import smoothed_probabilities, word_orientations

MAX_PHRASE_LENGTH = 7
TABLE_LIMIT = 20
#: The four scores of a phrase-table line, in Moses order (probabilities, not logs).
SCORE_NAMES = ("phi_fe", "lex_fe", "phi_ef", "lex_ef")
#: Word id standing for the empty word NULL in the lexical tables (real words are >= 1).
NULL = 0
#: gzip level of written tables (1: fast; the table is written once and read a few times)
GZIP_LEVEL = 1
#: Smoothing of the phrase translation probabilities φ (``smoothing=`` of :func:`score_phrases`).
SMOOTHING = ("none", "good-turing", "kneser-ney")
#: Good-Turing: counts of counts n_1 … n_COC_MAX are kept, joint counts below COC_MAX discounted (Moses' score).
COC_MAX = 10

Span = tuple[int, int]


# Reading the tables: data/moses.py (one home for the formats; re-exported here for the decoder)

# ------------------------------------------------------------------------------------------
# Extraction (Koehn 2010, §5.2.3, Figure 5.5)
# ------------------------------------------------------------------------------------------


def extract_phrases(f_tokens: Sequence, e_tokens: Sequence, alignment: Iterable[tuple[int, int]],
                    max_len: int = MAX_PHRASE_LENGTH) -> list[tuple[Span, Span]]:
    """All phrase pairs consistent with ``alignment``: ``[((f_start, f_end), (e_start, e_end)), …]``.

    Spans are 0-based with exclusive ends; ``alignment`` holds (source i, target j) points. Both
    phrases are at most ``max_len`` words. This is Figure 5.5 of Koehn (2010): for every target
    span ``e_start..e_end`` take the smallest source span covering its alignment points; keep it
    if no source word in it is aligned outside the target span (and it has a point at all); then
    add the variants extended by unaligned source words to the left and right.
    Order: by e_start, e_end, then f_start descending, f_end ascending (the figure's loops).
    """
    pairs: list[tuple[Span, Span]] = []
    for e_start, e_end, f_start, f_end, fs_min, fe_max in consistent_blocks(len(f_tokens), len(e_tokens),
                                                                            alignment, max_len):
        for fs in range(f_start, fs_min - 1, -1):          # "repeat … fs-- until fs aligned"
            for fe in range(f_end, min(fe_max, fs + max_len - 1) + 1):   # "repeat … fe++ until fe aligned"
                pairs.append(((fs, fe + 1), (e_start, e_end + 1)))
    return pairs


def consistent_blocks(n_f: int, n_e: int, alignment: Iterable[tuple[int, int]], max_len: int = MAX_PHRASE_LENGTH):
    """Figure 5.5's loops, in compact form (all bounds inclusive).

    Yields ``(e_start, e_end, f_start, f_end, fs_min, fe_max)`` for every target span whose
    minimal source span ``f_start..f_end`` is consistent with the alignment; the extracted pairs
    are then (``fs..fe``, ``e_start..e_end``) for ``fs_min <= fs <= f_start``,
    ``f_end <= fe <= fe_max`` and ``fe - fs < max_len`` (the extra source words are unaligned).
    """
    # per source word: smallest/largest aligned target position (unaligned: n_e / -1);
    # per target word: smallest/largest aligned source position (unaligned: n_f / -1).
    f_min_e, f_max_e = [n_e] * n_f, [-1] * n_f
    e_min_f, e_max_f = [n_f] * n_e, [-1] * n_e
    for i, j in alignment:
        if j < f_min_e[i]:
            f_min_e[i] = j
        if j > f_max_e[i]:
            f_max_e[i] = j
        if i < e_min_f[j]:
            e_min_f[j] = i
        if i > e_max_f[j]:
            e_max_f[j] = i
    for e_start in range(n_e):
        f_start, f_end = n_f, -1            # source span covering the points of e_start..e_end
        for e_end in range(e_start, min(e_start + max_len, n_e)):
            if e_max_f[e_end] >= 0:
                if e_min_f[e_end] < f_start:
                    f_start = e_min_f[e_end]
                if e_max_f[e_end] > f_end:
                    f_end = e_max_f[e_end]
            if f_end < 0:                   # "if f_end = 0 return {}": no alignment point yet
                continue
            if f_end - f_start >= max_len:  # the source span only grows with e_end
                break
            # consistency: no source word of the span is aligned outside e_start..e_end
            for f in range(f_start, f_end + 1):
                if f_min_e[f] < e_start or f_max_e[f] > e_end:
                    break
            else:
                fs_min = f_start
                while fs_min > 0 and f_max_e[fs_min - 1] < 0 and f_end - fs_min + 1 < max_len:
                    fs_min -= 1
                fe_max = f_end
                while fe_max + 1 < n_f and f_max_e[fe_max + 1] < 0 and fe_max + 1 - f_start < max_len:
                    fe_max += 1
                yield e_start, e_end, f_start, f_end, fs_min, fe_max


# ------------------------------------------------------------------------------------------
# Counting (one pass over the corpus, integer-encoded)
# ------------------------------------------------------------------------------------------

class PhraseCounts:
    """Everything scoring needs, gathered in one pass over the aligned corpus.

    Words, phrases (tuples of word ids) and within-phrase alignments are interned to integer
    ids; each extracted phrase-pair occurrence is stored as three int64s (source phrase id,
    target phrase id, alignment id), each word-alignment link (NULL = word id 0 for unaligned
    words) as two. A within-phrase alignment is packed as an integer with bit ``i*L + j`` set
    for the link (i, j), ``L = max_len``; extending a phrase to the left by ``k`` unaligned
    source words shifts that integer by ``k*L`` bits.
    """

    def __init__(self, max_len: int = MAX_PHRASE_LENGTH, orientations: bool = True,
                 shard: tuple[int, int] | None = None, totals: "CorpusTotals | None" = None) -> None:
        if max_len < 1:
            raise UserError(f"max phrase length must be >= 1 (got {max_len})")
        self.max_len = max_len
        self.orientations = orientations         # count them (for a reordering table): ~15% of the step
        # sharded builds (build_phrase_table(shards=K)): keep only the occurrences whose source phrase
        # falls in shard k of K, with the words and alignment ids of the corpus-wide pass ``totals``
        self.shard = shard
        self.totals = totals
        self.f_vocab: dict[str, int] = totals.f_vocab if totals else {}   # word -> id >= 1 (0 is NULL)
        self.e_vocab: dict[str, int] = totals.e_vocab if totals else {}
        self.f_phrases: dict[tuple[int, ...], int] = {}
        self.e_phrases: dict[tuple[int, ...], int] = {}
        self.f_phrase_words = array("i")         # L word ids per phrase, 0-padded
        self.e_phrase_words = array("i")
        self.alignments: dict[int, int] = totals.alignments if totals else {}   # packed alignment -> id
        self.alignment_bits = totals.alignment_bits if totals else array("b")  # L*L 0/1 per alignment id
        self.inst_f, self.inst_e, self.inst_a = array("q"), array("q"), array("q")
        self.inst_o = array("b")                 # 3 * prev + next orientation (smt/reordering.py)
        self.link_f, self.link_e = array("q"), array("q")
        self.sentences = 0

    @property
    def instances(self) -> int:
        return len(self.inst_f)

    def _phrase_id(self, table: dict, words: array, key: tuple[int, ...]) -> int:
        pid = table.get(key)
        if pid is None:
            pid = table[key] = len(table)
            words.extend(key)
            words.extend([0] * (self.max_len - len(key)))
        return pid

    def _alignment_id(self, packed: int) -> int:
        aid = self.alignments.get(packed)
        if aid is None:
            aid = self.alignments[packed] = len(self.alignments)
            L = self.max_len
            self.alignment_bits.extend((packed >> b) & 1 for b in range(L * L))
        return aid

    def add(self, f_tokens: Sequence[str], e_tokens: Sequence[str], alignment: Iterable[tuple[int, int]]) -> None:
        """Add one sentence pair: its word links (for w) and its extracted phrase pairs (for φ)."""
        alignment = sorted(set(alignment))
        L = self.max_len
        k, K = self.shard or (0, 0)
        # a shard's word tables come from the corpus-wide pass: no links kept here
        f, e, mask = _encode(self.f_vocab, self.e_vocab, f_tokens, e_tokens, alignment,
                             *((self.link_f, self.link_e) if not K else ()))
        inst_f, inst_e, inst_a, inst_o = self.inst_f, self.inst_e, self.inst_a, self.inst_o
        f_table, f_words, phrase_id = self.f_phrases, self.f_phrase_words, self._phrase_id
        points, n_f, n_e, orient = set(alignment), len(f), len(e), self.orientations
        for es, ee, f_start, f_end, fs_min, fe_max in consistent_blocks(n_f, n_e, alignment, L):
            e_key = tuple(e[es:ee + 1])
            eid = phrase_id(self.e_phrases, self.e_phrase_words, e_key) if not K else -1
            packed = 0
            for i in range(f_start, f_end + 1):
                packed |= (mask[i] >> es) << (L * (i - f_start))
            for fs in range(f_start, fs_min - 1, -1):
                aid = self._alignment_id(packed << (L * (f_start - fs)))
                for fe in range(f_end, min(fe_max, fs + L - 1) + 1):
                    key = tuple(f[fs:fe + 1])
                    if K and hash(key) % K != k:     # another shard's source phrase
                        continue
                    if eid < 0:
                        eid = phrase_id(self.e_phrases, self.e_phrase_words, e_key)
                    fid = f_table.get(key)
                    if fid is None:
                        fid = phrase_id(f_table, f_words, key)
                    inst_f.append(fid)
                    inst_e.append(eid)
                    inst_a.append(aid)
                    if orient:
                        prev, nxt = word_orientations(points, n_f, n_e, fs, fe + 1, es, ee + 1)
                        inst_o.append(3 * prev + nxt)
        self.sentences += 1


def _encode(f_vocab: dict, e_vocab: dict, f_tokens: Sequence[str], e_tokens: Sequence[str],
            alignment: Sequence[tuple[int, int]], link_f: array | None = None, link_e: array | None = None):
    """Word ids (a new word gets the next id) and, per source word, the bit mask of its target links
    (bit j: linked to target word j); given ``link_f``/``link_e``, every word link is appended to
    them, an unaligned word linked to NULL (id 0)."""
    f = [f_vocab.get(w) or f_vocab.setdefault(w, len(f_vocab) + 1) for w in f_tokens]
    e = [e_vocab.get(w) or e_vocab.setdefault(w, len(e_vocab) + 1) for w in e_tokens]
    mask = [0] * len(f)
    e_aligned = [False] * len(e)
    for i, j in alignment:
        mask[i] |= 1 << j
        e_aligned[j] = True
    if link_f is not None:
        for i, j in alignment:
            link_f.append(f[i])
            link_e.append(e[j])
        for i, m in enumerate(mask):
            if not m:
                link_f.append(f[i])
                link_e.append(NULL)
        for j, aligned in enumerate(e_aligned):
            if not aligned:
                link_f.append(NULL)
                link_e.append(e[j])
    return f, e, mask


class CorpusTotals:
    """The corpus-wide pass of a sharded build (:func:`build_phrase_table` with ``shards > 1``):
    everything scoring needs that is *not* local to one source phrase, in memory that grows with
    the vocabulary and the number of distinct target phrases, not with the occurrences.

    * the word ids and the within-phrase alignment ids, assigned in the same order as one
      :class:`PhraseCounts` over the whole corpus would (so ties break the same way);
    * the word-link counts behind w(f|e), w(e|f);
    * count(e) and the first extraction block of every target phrase e, keyed by Python's hash of
      its word-id tuple (64 bits, deterministic for tuples of ints) and checked by the hash of the
      reversed tuple: two target phrases that share the first are refused with an error (odds of
      about n² / 2⁶⁵ for n distinct target phrases), never merged;
    * the orientation totals (the prior p(o) of the reordering model).

    Pending rows are reduced (sorted, summed) every ``FLUSH`` rows, so memory stays bounded.
    """

    FLUSH = 1 << 22

    def __init__(self, max_len: int = MAX_PHRASE_LENGTH, orientations: bool = True) -> None:
        self.max_len, self.orientations = max_len, orientations
        self.f_vocab: dict[str, int] = {}
        self.e_vocab: dict[str, int] = {}
        self.alignments: dict[int, int] = {}
        self.alignment_bits = array("b")
        self.link_f, self.link_e = array("q"), array("q")        # pending word links
        self._e_hash, self._e_n = array("q"), array("q")         # pending blocks: hash(e), occurrences
        self._e_check = array("q")                               # pending: hash(reversed e)
        self.blocks = 0                                          # blocks reduced so far
        self.e_hash = np.empty(0, dtype=np.int64)                # sorted distinct hash(e)
        self.e_count = np.empty(0, dtype=np.int64)               # count(e)
        self.e_first = np.empty(0, dtype=np.int64)               # first block of e in the corpus
        self.e_check = np.empty(0, dtype=np.int64)               # hash(reversed e)
        self.link_keys = np.empty(0, dtype=np.int64)             # sorted distinct (f << 32 | e)
        self.link_n = np.empty(0, dtype=np.int64)
        self.orientation_counts = [0] * 9                        # by 3 * prev + next
        self.sentences = 0
        self.instances = 0

    _alignment_id = PhraseCounts._alignment_id

    def add(self, f_tokens: Sequence[str], e_tokens: Sequence[str], alignment: Iterable[tuple[int, int]]) -> None:
        """One sentence pair: the loops of :meth:`PhraseCounts.add`, counting instead of storing."""
        alignment = sorted(set(alignment))
        L = self.max_len
        f, e, mask = _encode(self.f_vocab, self.e_vocab, f_tokens, e_tokens, alignment, self.link_f, self.link_e)
        points, n_f, n_e, orient = set(alignment), len(f), len(e), self.orientations
        oc = self.orientation_counts
        for es, ee, f_start, f_end, fs_min, fe_max in consistent_blocks(n_f, n_e, alignment, L):
            packed = 0
            for i in range(f_start, f_end + 1):
                packed |= (mask[i] >> es) << (L * (i - f_start))
            n = 0
            for fs in range(f_start, fs_min - 1, -1):
                self._alignment_id(packed << (L * (f_start - fs)))
                for fe in range(f_end, min(fe_max, fs + L - 1) + 1):
                    n += 1
                    if orient:
                        prev, nxt = word_orientations(points, n_f, n_e, fs, fe + 1, es, ee + 1)
                        oc[3 * prev + nxt] += 1
            e_key = tuple(e[es:ee + 1])
            self._e_hash.append(hash(e_key))
            self._e_check.append(hash(e_key[::-1]))
            self._e_n.append(n)
            self.instances += n
        self.sentences += 1
        if len(self._e_hash) >= self.FLUSH or len(self.link_f) >= self.FLUSH:
            self._reduce()

    def _reduce(self) -> None:
        h = np.concatenate([self.e_hash, np.frombuffer(self._e_hash, dtype=np.int64)])
        n = np.concatenate([self.e_count, np.frombuffer(self._e_n, dtype=np.int64)])
        first = np.concatenate([self.e_first, self.blocks + np.arange(len(self._e_hash), dtype=np.int64)])
        check = np.concatenate([self.e_check, np.frombuffer(self._e_check, dtype=np.int64)])
        self.blocks += len(self._e_hash)
        o = np.argsort(h, kind="stable")
        h, n, first, check = h[o], n[o], first[o], check[o]
        if ((h[1:] == h[:-1]) & (check[1:] != check[:-1])).any():
            raise UserError("two target phrases share a 64-bit hash: build this phrase table "
                            "in memory (shards = 1)")
        starts = _runs(h)
        self.e_hash, self.e_count, self.e_first = h[starts], np.add.reduceat(n, starts), np.minimum.reduceat(first, starts)
        self.e_check = check[starts]
        keys = np.concatenate([self.link_keys, np.frombuffer(self.link_f, dtype=np.int64) << 32
                               | np.frombuffer(self.link_e, dtype=np.int64)])
        weights = np.concatenate([self.link_n, np.ones(len(self.link_f), dtype=np.int64)])
        self.link_keys, inverse = np.unique(keys, return_inverse=True)
        self.link_n = np.bincount(inverse, weights=weights, minlength=len(self.link_keys)).astype(np.int64)
        self._e_hash, self._e_n, self._e_check = array("q"), array("q"), array("q")
        self.link_f, self.link_e = array("q"), array("q")

    def finish(self) -> "CorpusTotals":
        """Reduce what is pending; the word tables and the orientation prior become available."""
        self._reduce()
        V_e = len(self.e_vocab) + 1
        kf, ke = self.link_keys >> 32, self.link_keys & 0xFFFFFFFF
        self.word_tables = _word_tables_from(kf * V_e + ke, self.link_n, len(self.f_vocab) + 1, V_e)
        c = np.asarray(self.orientation_counts, dtype=np.float64).reshape(3, 3)   # [prev, next]
        self.orientation_prior = np.concatenate([c.sum(axis=1), c.sum(axis=0)])[None, :]
        return self

    def target_phrases(self, keys: Sequence[tuple[int, ...]], index: bool = False) -> tuple[np.ndarray, ...]:
        """(count(e), first block of e) of target phrases given as word-id tuples; ``index``: and
        their corpus-wide index (0 … number of distinct target phrases - 1)."""
        h = np.fromiter((hash(k) for k in keys), dtype=np.int64, count=len(keys))
        idx = np.minimum(np.searchsorted(self.e_hash, h), max(len(self.e_hash) - 1, 0))
        if len(h) and not (self.e_hash[idx] == h).all():
            raise RuntimeError("a shard extracted a target phrase the corpus-wide pass did not see (corpus changed?)")
        return (self.e_count[idx], self.e_first[idx]) + ((idx,) if index else ())


# ------------------------------------------------------------------------------------------
# Scoring (Koehn, Och & Marcu 2003, §3.1 and §3.3)
# ------------------------------------------------------------------------------------------

def lexical_weight(f: Sequence, e: Sequence, alignment: Iterable[tuple[int, int]], w: dict) -> float:
    """lex(f|e, a) = Π_i 1/|{j : (i,j) ∈ a}| Σ_{(i,j) ∈ a} w(f_i|e_j); unaligned f_i: w(f_i|NULL).

    Koehn, Och & Marcu (2003) §3.3, written out plainly (the table builder computes the same
    thing vectorised). ``w`` maps (f word, e word) to w(f|e), with ``None`` standing for NULL.
    For lex(e|f) swap the roles: ``lexical_weight(e, f, [(j, i) for i, j in a], w_e_given_f)``.
    """
    sums = [0.0] * len(f)
    links = [0] * len(f)
    for i, j in alignment:
        sums[i] += w[f[i], e[j]]
        links[i] += 1
    p = 1.0
    for i, fi in enumerate(f):
        p *= sums[i] / links[i] if links[i] else w[fi, None]
    return p


def _runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Start indices of the runs of equal values in a sorted array."""
    new = np.ones(len(sorted_keys), dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return np.flatnonzero(new)


class PhraseTable:
    """Scored, pruned phrase pairs (arrays, one row per kept pair, grouped by source phrase)."""

    def __init__(self, counts: PhraseCounts, f: np.ndarray, e: np.ndarray, scores: np.ndarray,
                 alignment: np.ndarray, count_e: np.ndarray, count_f: np.ndarray, count_fe: np.ndarray,
                 reordering: np.ndarray | None = None):
        self.counts = counts
        self.f, self.e, self.scores, self.alignment = f, e, scores, alignment
        self.count_e, self.count_f, self.count_fe = count_e, count_f, count_fe
        self.reordering = reordering   # [pairs, 6] msd-bidirectional-fe probabilities (smt/reordering.py)

    def __len__(self) -> int:
        return len(self.f)

    def lines(self) -> Iterator[str]:
        """Moses phrase-table lines, sorted by source phrase text, best φ(e|f) first within one."""
        for chunk in self.chunks():
            yield from chunk

    def chunks(self, size: int = 50_000, reordering: bool = False) -> Iterator[list[str]]:
        """:meth:`lines` in lists of about ``size`` lines (built column-wise: much faster); with
        ``reordering``, the lines of the reordering table instead (``f ||| e ||| 6 scores``, same order)."""
        c, L = self.counts, self.counts.max_len
        f_words = [""] * (len(c.f_vocab) + 1)
        for w, i in c.f_vocab.items():
            f_words[i] = w
        e_words = [""] * (len(c.e_vocab) + 1)
        for w, i in c.e_vocab.items():
            e_words[i] = w
        f_list, e_list = list(c.f_phrases), list(c.e_phrases)
        align_text = [" ".join(f"{b // L}-{b % L}" for b in range(L * L) if packed >> b & 1) for packed in c.alignments]
        e_text: dict[int, str] = {}
        # rows are grouped by source phrase id; order the groups by the source phrase's text
        starts = _runs(self.f)
        sizes = np.diff(np.append(starts, len(self.f)))
        f_text = [" ".join([f_words[w] for w in f_list[fid]]) for fid in self.f[starts].tolist()]
        order = np.array(sorted(range(len(starts)), key=f_text.__getitem__), dtype=np.int64)
        group_of_row = np.repeat(order, sizes[order])                      # output row -> group
        offsets = np.cumsum(sizes[order]) - sizes[order]
        rows = np.repeat(starts[order] - offsets, sizes[order]) + np.arange(len(self.f))   # output row -> table row
        for s in range(0, len(rows), size):
            r, g = rows[s:s + size], group_of_row[s:s + size]
            ft = [f_text[i] for i in g.tolist()]
            uniq, inverse = np.unique(self.e[r], return_inverse=True)
            texts = []
            for eid in uniq.tolist():
                t = e_text.get(eid)
                if t is None:
                    t = e_text[eid] = " ".join([e_words[w] for w in e_list[eid]])
                texts.append(t)
            et = [texts[i] for i in inverse.tolist()]
            if reordering:
                yield [" ||| ".join(t) for t in zip(ft, et, _format_rows(self.reordering[r]))]
                continue
            at = [align_text[i] for i in self.alignment[r].tolist()]
            st = _format_rows(self.scores[r])
            ct = [f"{a} {b} {c_}" for a, b, c_ in zip(self.count_e[r].tolist(), self.count_f[r].tolist(),
                                                       self.count_fe[r].tolist())]
            yield [" ||| ".join(t) for t in zip(ft, et, st, at, ct)]


def _format_rows(scores: np.ndarray) -> list[str]:
    """``"%.7g %.7g …"`` per row, formatting each distinct value once (they repeat a lot)."""
    cols = []
    for col in scores.T:
        values, inverse = np.unique(col, return_inverse=True)
        text = [f"{v:.7g}" for v in values.tolist()]
        cols.append([text[i] for i in inverse.tolist()])
    return [" ".join(t) for t in zip(*cols)]


def count_of_counts(pair_counts: np.ndarray) -> np.ndarray:
    """n_r, the number of distinct phrase pairs seen exactly r times, for r = 0 … COC_MAX (n_0 = 0)."""
    coc = np.bincount(np.minimum(pair_counts, COC_MAX + 1), minlength=COC_MAX + 2)[:COC_MAX + 1].astype(np.int64)
    coc[0] = 0
    return coc


def good_turing_discounts(coc: Sequence[int]) -> np.ndarray:
    """Good-Turing discount factors d_r for joint counts r = 0 … COC_MAX - 1 (Foster, Kuhn & Johnson
    2006, §3.1; the formula of Moses' ``consolidate --GoodTuring``):

    ``d_r = (r + 1) / r · (n_{r+1} + 0.1) / (n_r + 0.1)``, the Good-Turing count r* = (r + 1) n_{r+1} / n_r
    as a fraction of r (0.1 keeps empty bins finite), capped at 1 and made non-decreasing in r
    (``d_0 = 0.01`` is only the floor of that). A pair seen r < COC_MAX times counts r · d_r, one seen
    more often r; ``coc`` = :func:`count_of_counts` of all distinct pairs, before the table limit.
    """
    coc = np.asarray(coc, dtype=np.float64)
    d = np.empty(COC_MAX)
    d[0] = 0.01
    for r in range(1, COC_MAX):
        d[r] = min(1.0, max(d[r - 1], (r + 1) / r * (coc[r + 1] + 0.1) / (coc[r] + 0.1)))
    return d


def kneser_ney_discounts(coc: Sequence[int]) -> np.ndarray:
    """Modified Kneser-Ney discounts D_1, D_2, D_3+ (Chen & Goodman 1998, eq. 26; for phrase tables
    Foster, Kuhn & Johnson 2006, §3.2; Moses' ``consolidate --KneserNey``): with
    ``Y = n_1 / (n_1 + 2 n_2)``, ``D_r = r - (r + 1) Y n_{r+1} / n_r``, capped at r - 0.1."""
    n = np.asarray(coc, dtype=np.float64)
    if min(n[1], n[2], n[3]) <= 0:
        return np.array([0.5, 1.0, 1.5])      # too few pairs for the estimate: fixed, moderate discounts
    Y = n[1] / (n[1] + 2 * n[2])
    return np.array([min(r - (r + 1) * Y * n[r + 1] / n[r], r - 0.1) for r in (1, 2, 3)])


def kneser_ney_counts(c: np.ndarray, n1_f: np.ndarray, n1_e: np.ndarray, n_pairs: int, D: np.ndarray) -> np.ndarray:
    """The count both φ divide by their marginal under Kneser-Ney (Foster et al. 2006, §3.2):
    ``c(f, e) - D + D · N1+(f •) · N1+(• e) / N1+(• •)``, D = D_min(c, 3) (at most c - 0.01): the
    discounted mass of f goes to e in proportion to the number of source phrases e was seen with
    (and the mirror image for φ(f|e), which gives the same expression)."""
    d = D[np.minimum(c, 3) - 1]
    d = np.where(d > c, c - 0.01, d)
    return c - d + d * n1_f.astype(np.float64) * n1_e / n_pairs


def discounted(pair_counts: np.ndarray, discounts: np.ndarray | None) -> np.ndarray:
    """count(f, e) · d_count(f, e) (counts >= COC_MAX unchanged); ``discounts=None``: the counts."""
    c = pair_counts.astype(np.float64)
    if discounts is None:
        return c
    low = pair_counts < len(discounts)
    c[low] *= discounts[pair_counts[low]]
    return c


def score_phrases(counts: PhraseCounts, table_limit: int | None = TABLE_LIMIT, chunk: int = 100_000,
                  smoothing: str = "none", stats: dict | None = None) -> PhraseTable:
    """Relative frequencies, table-limit pruning, then lexical weights — all vectorised.

    * count(f, e) = number of extracted occurrences; φ(f|e) = count(f, e) / count(e),
      φ(e|f) = count(f, e) / count(f), with count(e), count(f) the marginals (before pruning);
      ``smoothing="good-turing"``: both φ use the Good-Turing discounted count(f, e)
      (:func:`good_turing_discounts`) over the same marginals, leaving mass for unseen
      translations; ``"kneser-ney"``: the Kneser-Ney count (:func:`kneser_ney_counts`) — both from
      this table's counts of counts, or from ``stats`` (a shard of a sharded build: the corpus-wide
      ones, :func:`_shard_smoothing_stats`);
    * keep the ``table_limit`` pairs with the largest φ(e|f) per source phrase (ties: the target
      phrase seen first in the corpus); 0/None keeps all;
    * lex(f|e), lex(e|f): the maximum over the within-phrase alignments the pair was seen with
      (Koehn et al. 2003 §3.3), w from the word links; the alignment written out is the most
      frequent one (ties: the one seen first).
    """
    L = counts.max_len
    n_inst = counts.instances
    if n_inst == 0:
        raise UserError("no phrase pair could be extracted: the alignment has no points")
    totals = counts.totals        # a shard of a sharded build: count(e), ties, w and p(o) are corpus-wide
    inst_f = np.frombuffer(counts.inst_f, dtype=np.int64)
    inst_e = np.frombuffer(counts.inst_e, dtype=np.int64)
    inst_a = np.frombuffer(counts.inst_a, dtype=np.int64)
    n_e_phr = len(counts.e_phrases)
    # distinct (pair, alignment) triples with their counts
    pair = inst_f * n_e_phr + inst_e
    order = np.lexsort((inst_a, pair))
    pair, align = pair[order], inst_a[order]
    del order
    new = np.ones(n_inst, dtype=bool)
    new[1:] = (pair[1:] != pair[:-1]) | (align[1:] != align[:-1])
    t_start = np.flatnonzero(new)
    t_pair, t_align = pair[t_start], align[t_start]
    t_count = np.diff(np.append(t_start, n_inst))
    del pair, align, new
    # distinct pairs
    p_start = _runs(t_pair)
    p_pair = t_pair[p_start]
    p_count = np.add.reduceat(t_count, p_start)
    p_f, p_e = p_pair // n_e_phr, p_pair % n_e_phr
    count_f = np.bincount(p_f, weights=p_count, minlength=len(counts.f_phrases)).astype(np.int64)
    if totals is None:
        count_e = np.bincount(p_e, weights=p_count, minlength=n_e_phr).astype(np.int64)
        e_rank = None                         # target phrase ids are already in first-seen order
    else:
        count_e, e_rank = totals.target_phrases(list(counts.e_phrases))
    t_group = np.repeat(np.arange(len(p_start)), np.diff(np.append(p_start, len(t_pair))))
    # most frequent alignment per pair (ties: smallest id = seen first)
    o = np.lexsort((t_align, -t_count, t_group))
    p_best_align = t_align[o[_runs(t_group[o])]]
    # table limit: rank the pairs of each source phrase by count(f, e) (= φ(e|f) up to count(f));
    # ties: the target phrase seen first in the corpus
    o = np.lexsort((p_e if e_rank is None else e_rank[p_e], -p_count, p_f))
    starts = _runs(p_f[o])
    rank = np.arange(len(o)) - np.repeat(starts, np.diff(np.append(starts, len(o))))
    kept = o[rank < table_limit] if table_limit else o
    # lexical weights of every (kept pair, alignment) triple, then the max per pair
    w_fe, w_ef, w_f_null, w_e_null = _word_tables(counts)
    n_t = np.diff(np.append(p_start, len(t_pair)))[kept]
    t_idx = np.repeat(p_start[kept], n_t) + (np.arange(n_t.sum()) - np.repeat(np.cumsum(n_t) - n_t, n_t))
    lex = np.empty((len(t_idx), 2))
    FW = np.frombuffer(counts.f_phrase_words, dtype=np.int32).reshape(-1, L)
    EW = np.frombuffer(counts.e_phrase_words, dtype=np.int32).reshape(-1, L)
    AB = np.frombuffer(counts.alignment_bits, dtype=np.int8).reshape(-1, L, L).astype(bool)
    for s in range(0, len(t_idx), chunk):
        ti = t_idx[s:s + chunk]
        tp = t_pair[ti]
        lex[s:s + chunk] = _lexical_weights(FW[tp // n_e_phr], EW[tp % n_e_phr], AB[t_align[ti]],
                                            w_fe, w_ef, w_f_null, w_e_null, len(counts.e_vocab) + 1)
    lex_max = np.maximum.reduceat(lex, np.append(0, np.cumsum(n_t)[:-1]), axis=0)
    if smoothing not in SMOOTHING:
        raise UserError(f"unknown phrase-table smoothing {smoothing!r} (choose from {', '.join(SMOOTHING)})")
    f, e, c = p_f[kept], p_e[kept], p_count[kept]
    coc = None if smoothing == "none" else stats["coc"] if stats is not None else count_of_counts(p_count)
    if smoothing == "good-turing":
        c_adj = discounted(c, good_turing_discounts(coc))
    elif smoothing == "kneser-ney":
        n1_f = np.bincount(p_f, minlength=len(counts.f_phrases))                # N1+(f •): f is local to a shard
        if stats is None:
            n1_e, n_pairs = np.bincount(p_e, minlength=n_e_phr)[e], len(p_pair)
        else:                                                                    # N1+(• e), N1+(• •): corpus-wide
            n1_e, n_pairs = stats["n1_e"][totals.target_phrases(list(counts.e_phrases), index=True)[2]][e], stats["pairs"]
        c_adj = kneser_ney_counts(c, n1_f[f], n1_e, n_pairs, kneser_ney_discounts(coc))
    else:
        c_adj = c.astype(np.float64)
    scores = np.column_stack([c_adj / count_e[e], lex_max[:, 0], c_adj / count_f[f], lex_max[:, 1]])
    reordering = _reordering_scores(counts, p_pair, kept, n_e_phr) if counts.orientations else None
    return PhraseTable(counts, f, e, scores, p_best_align[kept], count_e[e], count_f[f], c, reordering)


def _reordering_scores(counts: PhraseCounts, p_pair: np.ndarray, kept: np.ndarray, n_e_phr: int) -> np.ndarray:
    """[kept pairs, 6] smoothed msd-bidirectional-fe probabilities (smt/reordering.py) from the
    orientation of every extracted occurrence; the prior p(o) is over all occurrences."""
    inst_o = np.frombuffer(counts.inst_o, dtype=np.int8).astype(np.int64)
    pair = np.frombuffer(counts.inst_f, dtype=np.int64) * n_e_phr + np.frombuffer(counts.inst_e, dtype=np.int64)
    idx = np.searchsorted(p_pair, pair)                     # occurrence -> distinct pair (p_pair is sorted)
    del pair
    n = len(p_pair)
    oc = np.empty((n, 6))
    oc[:, :3] = np.bincount(idx * 3 + inst_o // 3, minlength=3 * n).reshape(n, 3)
    oc[:, 3:] = np.bincount(idx * 3 + inst_o % 3, minlength=3 * n).reshape(n, 3)
    return smoothed_probabilities(oc[kept], prior_counts=oc if counts.totals is None else counts.totals.orientation_prior)


def _word_tables(counts: PhraseCounts):
    """Lexical translation tables from the word links (NULL = id 0), as in Moses' train-model.perl.

    w(f|e) = count(f, e) / Σ_f' count(f', e) and w(e|f) = count(f, e) / Σ_e' count(f, e'), where
    an unaligned source word counts as linked to NULL and an unaligned target word as linked from
    NULL. Returns (w_fe, w_ef) as sorted-key tables (keys = f * V_e + e, values) and the dense
    vectors w(f|NULL), w(e|NULL).
    """
    if counts.totals is not None:                              # a shard: the corpus-wide tables
        return counts.totals.word_tables
    V_e = len(counts.e_vocab) + 1
    lf = np.frombuffer(counts.link_f, dtype=np.int64)
    le = np.frombuffer(counts.link_e, dtype=np.int64)
    keys, n = np.unique(lf * V_e + le, return_counts=True)
    return _word_tables_from(keys, n, len(counts.f_vocab) + 1, V_e)


def _word_tables_from(keys: np.ndarray, n: np.ndarray, V_f: int, V_e: int):
    """:func:`_word_tables` from the sorted distinct link keys ``f * V_e + e`` and their counts."""
    kf, ke = keys // V_e, keys % V_e
    total_e = np.bincount(ke, weights=n, minlength=V_e)         # Σ_f count(f, e), NULL included
    total_f = np.bincount(kf, weights=n, minlength=V_f)
    w_fe = (keys, n / total_e[ke])
    w_ef = (keys, n / total_f[kf])
    w_f_null = np.zeros(V_f)
    w_e_null = np.zeros(V_e)
    null_e = ke == NULL
    w_f_null[kf[null_e]] = w_fe[1][null_e]                     # w(f | NULL)
    null_f = kf == NULL
    w_e_null[ke[null_f]] = w_ef[1][null_f]                     # w(e | NULL)
    return w_fe, w_ef, w_f_null, w_e_null


def _lexical_weights(fw, ew, A, w_fe, w_ef, w_f_null, w_e_null, V_e) -> np.ndarray:
    """lex(f|e, a) and lex(e|f, a) for a batch: fw (n, L), ew (n, L) word ids (0 = padding), A (n, L, L).

    Vectorised form of :func:`lexical_weight`: look w up for every link, average over the links of
    each word, use w(·|NULL) for unaligned words and 1 for padding, multiply over the phrase.
    """
    link = np.nonzero(A)
    keys = fw[link[0], link[1]].astype(np.int64) * V_e + ew[link[0], link[2]]
    pos = np.searchsorted(w_fe[0], keys)
    out = np.empty((len(fw), 2))
    for col, (table, words, null, axis) in enumerate(((w_fe, fw, w_f_null, 2), (w_ef, ew, w_e_null, 1))):
        W = np.zeros(A.shape)
        W[link] = table[1][pos]
        n_links = A.sum(axis=axis)
        term = np.where(n_links > 0, W.sum(axis=axis) / np.maximum(n_links, 1), null[words])
        term[words == 0] = 1.0                                 # padding
        out[:, col] = term.prod(axis=1)
    return out

# ------------------------------------------------------------------------------------------
# Corpus level
# ------------------------------------------------------------------------------------------

def read_aligned_corpus(src_path, tgt_path, align_path) -> tuple[list[list[str]], list[list[str]], list[tuple]]:
    """Read tokenised source, target and Pharaoh alignment files (same number of lines).

    Every alignment point must be ``i-j`` with ``i`` inside the source and ``j`` inside the target
    sentence of that line, else :class:`UserError` naming the alignment file and line.
    """
    src = read_lines(src_path)
    tgt = read_lines(tgt_path)
    ali = read_lines(align_path, allow_empty_file=True)
    if not (len(src) == len(tgt) == len(ali)):
        raise UserError(f"line counts differ: {src_path} has {len(src):,}, {tgt_path} has {len(tgt):,}, "
                        f"{align_path} has {len(ali):,}: the three files must be line-aligned")
    f_sents = [line.split() for line in src]
    e_sents = [line.split() for line in tgt]
    aligns = [_parse_points(a, len(f), len(e), align_path, n, "in this sentence pair")
              for n, (a, f, e) in enumerate(zip(ali, f_sents, e_sents), 1)]
    return f_sents, e_sents, aligns


def build_phrase_table(src_path, tgt_path, align_path, out_path, max_len: int = MAX_PHRASE_LENGTH,
                       table_limit: int | None = TABLE_LIMIT, reordering_path=None, shards: int = 1,
                       jobs: int = 1, smoothing: str = "none") -> dict:
    """Extract, score and prune phrase pairs; atomically write the Moses table ``out_path`` (and,
    given ``reordering_path``, the msd-bidirectional-fe reordering table of the same pairs).

    ``shards = 1`` holds every extracted occurrence in memory at once. ``shards = K > 1`` streams
    the corpus from disk K + 1 times instead — a corpus-wide pass (:class:`CorpusTotals`), then one
    pass per shard keeping only the source phrases that hash to it, scored and written sorted to a
    temporary file, ``jobs`` shards at a time in worker processes — and merges the K sorted files
    (the scheme of Moses' ``extract`` / ``score`` over sorted files). Everything about a source
    phrase is local to its shard, so the tables are the same, byte for byte (target phrases are
    told apart corpus-wide by a 64-bit hash checked by a second one; a double collision is
    astronomically unlikely); peak memory is about ``jobs`` shards' plus the corpus-wide counts.
    ``smoothing`` ("good-turing", "kneser-ney") discounts φ (:func:`score_phrases`); sharded, its
    corpus-wide statistics take one more extraction pass over the shards before they are scored.

    Returns statistics: sentences, extracted instances, distinct pairs and source phrases,
    lines written, seconds for extraction and scoring.
    """
    if max_len < 1:
        raise UserError(f"max phrase length must be >= 1 (got {max_len})")
    if table_limit is not None and table_limit < 0:
        raise UserError(f"table limit must be >= 0, 0 meaning no limit (got {table_limit})")
    if shards < 1 or jobs < 1:
        raise UserError(f"shards and jobs must be >= 1 (got {shards} shards, {jobs} jobs)")
    if smoothing not in SMOOTHING:
        raise UserError(f"unknown phrase-table smoothing {smoothing!r} (choose from {', '.join(SMOOTHING)})")
    if shards > 1:
        with _no_gc():
            return _build_sharded((src_path, tgt_path, align_path), Path(out_path), max_len, table_limit,
                                  reordering_path, shards, jobs, smoothing)
    f_sents, e_sents, aligns = read_aligned_corpus(src_path, tgt_path, align_path)
    with _no_gc():
        return _build(f_sents, e_sents, aligns, out_path, max_len, table_limit, reordering_path, smoothing)


@contextlib.contextmanager
def _no_gc():
    """Pause the cyclic garbage collector: the millions of phrase tuples we keep alive contain no
    cycles, but would make every full collection scan them all (a 2-4x slow-down)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(f_sents, e_sents, aligns, out_path, max_len, table_limit, reordering_path=None, smoothing="none") -> dict:
    t0 = time.perf_counter()
    counts = PhraseCounts(max_len, orientations=reordering_path is not None)
    for f, e, a in progress(zip(f_sents, e_sents, aligns), total=len(f_sents), desc="extract phrases", unit="sent"):
        counts.add(f, e, a)
    t1 = time.perf_counter()
    table = score_phrases(counts, table_limit, smoothing=smoothing)
    t2 = time.perf_counter()
    write_table(table, out_path)
    if reordering_path is not None:
        write_table(table, reordering_path, reordering=True)
    t3 = time.perf_counter()
    return {
        "sentences": counts.sentences,
        "instances": counts.instances,
        "source_phrases": len(counts.f_phrases),
        "target_phrases": len(counts.e_phrases),
        "written_pairs": len(table),
        "max_phrase_length": max_len,
        "table_limit": table_limit,
        "reordering": "msd-bidirectional-fe" if reordering_path is not None else None,
        "smoothing": smoothing,
        "extract_seconds": round(t1 - t0, 3),
        "score_seconds": round(t2 - t1, 3),
        "write_seconds": round(t3 - t2, 3),
    }


# ------------------------------------------------------------------------------------------
# Sharded build: bounded memory, the same tables
# ------------------------------------------------------------------------------------------

def aligned_pairs(src_path, tgt_path, align_path) -> Iterator[tuple[list[str], list[str], list[tuple[int, int]]]]:
    """:func:`read_aligned_corpus` one sentence pair at a time (same checks, same errors)."""
    n = 0
    for n, (s, t, a) in enumerate(itertools.zip_longest(iter_lines(src_path), iter_lines(tgt_path),
                                                         iter_lines(align_path)), 1):
        if s is None or t is None or a is None:
            short = [str(p) for p, x in ((src_path, s), (tgt_path, t), (align_path, a)) if x is None]
            raise UserError(f"line counts differ: {', '.join(short)} {'ends' if len(short) == 1 else 'end'} after "
                            f"{n - 1:,} lines, the other files go on: the three files must be line-aligned")
        f, e = s.split(), t.split()
        yield f, e, _parse_points(a, len(f), len(e), align_path, n, "in this sentence pair")
    if n == 0:
        raise UserError(f"{src_path}: empty file")


#: what every shard job reads (set before the worker processes fork; one build at a time)
_SHARDING: dict = {}


def _build_sharded(paths, out_path: Path, max_len, table_limit, reordering_path, shards: int, jobs: int,
                   smoothing: str = "none") -> dict:
    t0 = time.perf_counter()
    n_lines = sum(1 for _ in iter_lines(paths[0]))            # for the progress bars' ETA
    totals = CorpusTotals(max_len, orientations=reordering_path is not None)
    for f, e, a in progress(aligned_pairs(*paths), total=n_lines, desc="phrase totals", unit="sent"):
        totals.add(f, e, a)
    totals.finish()
    if totals.instances == 0:
        raise UserError("no phrase pair could be extracted: the alignment has no points")
    t1 = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_path.parent, prefix=f".{out_path.name}.shards-"))
    try:
        _SHARDING.update(paths=paths, totals=totals, max_len=max_len, table_limit=table_limit, shards=shards,
                         lines=n_lines, tmp=tmp, reordering=reordering_path is not None, smoothing=smoothing,
                         smoothing_stats=None)
        if smoothing != "none":       # the discounts need corpus-wide counts of counts (and N1+(• e)) first
            parts = _map_shards(_shard_smoothing_stats, shards, jobs, out_path)
            n1_e = np.zeros(len(totals.e_hash), dtype=np.int64)
            for part in parts:
                np.add.at(n1_e, part["e_index"], part["n1_e"])
            _SHARDING["smoothing_stats"] = {"coc": np.sum([x["coc"] for x in parts], axis=0), "n1_e": n1_e,
                                            "pairs": sum(x["pairs"] for x in parts)}
        stats = _map_shards(_shard, shards, jobs, out_path)
        t2 = time.perf_counter()
        written = sum(x["written_pairs"] for x in stats)
        _merge([tmp / f"{k}.table" for k in range(shards)], out_path, written, "merge table")
        if reordering_path is not None:
            _merge([tmp / f"{k}.reordering" for k in range(shards)], Path(reordering_path), written,
                   "merge reordering table")
    finally:
        _SHARDING.clear()
        shutil.rmtree(tmp, ignore_errors=True)
    t3 = time.perf_counter()
    return {
        "sentences": totals.sentences,
        "instances": totals.instances,
        "source_phrases": sum(x["source_phrases"] for x in stats),
        "target_phrases": len(totals.e_hash),
        "written_pairs": written,
        "max_phrase_length": max_len,
        "table_limit": table_limit,
        "reordering": "msd-bidirectional-fe" if reordering_path is not None else None,
        "smoothing": smoothing,
        "shards": shards,
        "jobs": jobs,
        "totals_seconds": round(t1 - t0, 3),
        "extract_seconds": round(sum(x["extract_seconds"] for x in stats), 3),
        "score_seconds": round(sum(x["score_seconds"] for x in stats), 3),
        "shards_wall_seconds": round(t2 - t1, 3),
        "write_seconds": round(t3 - t2, 3),
    }


def _map_shards(fn, shards: int, jobs: int, out_path: Path) -> list:
    """``[fn(k) for k in range(shards)]``, ``jobs`` at a time in forked worker processes when jobs > 1."""
    if jobs == 1:
        return [fn(k) for k in range(shards)]
    # fork: the workers share the corpus-wide totals; a worker that dies (e.g. out of memory)
    # breaks the pool with an error instead of hanging it
    with ProcessPoolExecutor(min(jobs, shards), mp_context=mp.get_context("fork")) as pool:
        try:
            return list(pool.map(fn, range(shards)))
        except BrokenProcessPool:
            raise UserError(f"{out_path}: a phrase-shard worker died (out of memory?); use more --shards "
                            f"or fewer --jobs") from None


def _shard_smoothing_stats(k: int) -> dict:
    """Shard ``k``'s part of the smoothing statistics (its pairs are no other shard's, so they add
    up): counts of counts (:func:`count_of_counts`), distinct pairs, and N1+(• e) — the number of
    its source phrases seen with each target phrase — by corpus-wide target phrase index."""
    c = _SHARDING
    counts = PhraseCounts(c["max_len"], orientations=False, shard=(k, c["shards"]), totals=c["totals"])
    with _no_gc():
        for f, e, a in progress(aligned_pairs(*c["paths"]), total=c["lines"],
                                desc=f"smoothing counts {k + 1}/{c['shards']}", unit="sent"):
            counts.add(f, e, a)
    n_e = max(len(counts.e_phrases), 1)
    pair, n = np.unique(np.frombuffer(counts.inst_f, dtype=np.int64) * n_e
                        + np.frombuffer(counts.inst_e, dtype=np.int64), return_counts=True)
    n1_e = np.bincount(pair % n_e, minlength=len(counts.e_phrases))
    e_index = (c["totals"].target_phrases(list(counts.e_phrases), index=True)[2] if len(counts.e_phrases)
               else np.zeros(0, dtype=np.int64))
    return {"coc": count_of_counts(n), "pairs": len(pair), "n1_e": n1_e, "e_index": e_index}


def _shard(k: int) -> dict:
    """Shard ``k``: extract the occurrences of its source phrases, score them with the corpus-wide
    totals, write its table lines (sorted by source phrase) to the temporary folder."""
    c = _SHARDING
    counts = PhraseCounts(c["max_len"], orientations=c["reordering"], shard=(k, c["shards"]), totals=c["totals"])
    t0 = time.perf_counter()
    with _no_gc():
        for f, e, a in progress(aligned_pairs(*c["paths"]), total=c["lines"], desc=f"shard {k + 1}/{c['shards']}",
                                unit="sent"):
            counts.add(f, e, a)
        t1 = time.perf_counter()
        files = [c["tmp"] / f"{k}.table"] + ([c["tmp"] / f"{k}.reordering"] if c["reordering"] else [])
        if counts.instances == 0:                  # no source phrase hashed here (tiny corpora)
            for p in files:
                p.write_bytes(b"")
            return {"source_phrases": 0, "written_pairs": 0, "extract_seconds": t1 - t0, "score_seconds": 0.0}
        table = score_phrases(counts, c["table_limit"], smoothing=c["smoothing"], stats=c["smoothing_stats"])
        t2 = time.perf_counter()
        write_table(table, files[0])
        if c["reordering"]:
            write_table(table, files[1], reordering=True)
    return {"source_phrases": len(counts.f_phrases), "written_pairs": len(table),
            "extract_seconds": t1 - t0, "score_seconds": t2 - t1}


def _merge(parts: list[Path], out_path: Path, total: int, desc: str, batch: int = 20_000) -> None:
    """K-way merge of shard files sorted by source phrase into one table (gzip when ``.gz``); each
    source phrase lives in one shard, so its lines stay together and in their order."""
    bar = progress(total=total, desc=desc, unit="pair")
    with contextlib.ExitStack() as stack:
        fh = _open_table(out_path, stack)
        inputs = [stack.enter_context(open(p, encoding="utf-8", newline="\n")) for p in parts]
        buf: list[str] = []
        for line in heapq.merge(*inputs, key=lambda x: x[:x.index(" ||| ")]):
            buf.append(line)
            if len(buf) >= batch:
                fh.write("".join(buf).encode("utf-8"))
                bar.update(len(buf))
                buf = []
        fh.write("".join(buf).encode("utf-8"))
        bar.update(len(buf))
    bar.close()


def _open_table(out_path: Path, stack: contextlib.ExitStack):
    """A binary handle that atomically becomes ``out_path`` (gzip, fast level, when it ends in .gz)."""
    if out_path.suffix == ".gz":
        raw = stack.enter_context(atomic_write(out_path, "wb"))
        return stack.enter_context(gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=GZIP_LEVEL))
    return stack.enter_context(atomic_write(out_path, "wb"))


def write_table(table: PhraseTable, out_path, reordering: bool = False) -> None:
    """Atomically write ``table`` as Moses text (gzip, fast level, when ``out_path`` ends in .gz);
    ``reordering``: its reordering table instead."""
    out_path = Path(out_path)
    bar = progress(total=len(table), desc="write reordering table" if reordering else "write table", unit="pair")
    with contextlib.ExitStack() as stack:
        fh = _open_table(out_path, stack)
        for lines in table.chunks(reordering=reordering):
            fh.write(("\n".join(lines) + "\n").encode("utf-8"))
            bar.update(len(lines))
    bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m smt phrases",
        description="Extract phrase pairs consistent with a word alignment (Koehn 2010, Fig. 5.5), score them "
                    "(φ(f|e) lex(f|e) φ(e|f) lex(e|f), Koehn et al. 2003) and write a Moses phrase table.")
    ap.add_argument("--src", required=True, help="tokenised source (foreign, f) side, one sentence a line")
    ap.add_argument("--tgt", required=True, help="tokenised target (English, e) side, line-aligned with --src")
    ap.add_argument("--align", required=True, help="Pharaoh alignment 'i-j' (i source, j target, 0-based), one line a pair")
    ap.add_argument("--out", required=True, help="phrase table to write (gzip if it ends in .gz)")
    ap.add_argument("--max-phrase-length", type=int, default=MAX_PHRASE_LENGTH,
                    help=f"longest phrase on either side (default {MAX_PHRASE_LENGTH})")
    ap.add_argument("--table-limit", type=int, default=TABLE_LIMIT,
                    help=f"keep the N best target phrases per source phrase by φ(e|f); 0 = all (default {TABLE_LIMIT})")
    ap.add_argument("--reordering-table", metavar="FILE",
                    help="also write the msd-bidirectional-fe reordering table of the same pairs (smt/reordering.py)")
    ap.add_argument("--shards", type=int, default=1,
                    help="1: everything in memory; K > 1: stream the corpus K + 1 times and hold one K-th of the "
                         "phrase pairs at a time (same tables, byte for byte; for corpora too big for memory) "
                         "(default 1)")
    ap.add_argument("--jobs", type=int, default=1, help="shards built at once in worker processes (default 1)")
    ap.add_argument("--smoothing", choices=SMOOTHING, default="none",
                    help="discount the joint counts of both φ: good-turing or kneser-ney (Foster et al. 2006; "
                         "Moses' --GoodTuring / --KneserNey) (default none)")
    args = ap.parse_args(argv)
    info = build_phrase_table(args.src, args.tgt, args.align, args.out, args.max_phrase_length, args.table_limit,
                              reordering_path=args.reordering_table, shards=args.shards, jobs=args.jobs,
                              smoothing=args.smoothing)
    print(f"{args.out}: {info['written_pairs']:,} phrase pairs for {info['source_phrases']:,} source phrases "
          f"({info['instances']:,} extracted from {info['sentences']:,} sentence pairs; "
          f"extract {info['extract_seconds']:.1f}s, score {info['score_seconds']:.1f}s, write {info['write_seconds']:.1f}s)",
          file=sys.stderr)
    return 0
