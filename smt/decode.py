"""Phrase-based stack decoding: beam search over a log-linear model (Koehn 2004, "Pharaoh").

P. Koehn. 2004. *Pharaoh: a beam search decoder for phrase-based statistical machine translation
models.* AMTA. — P. Koehn. 2010. *Statistical Machine Translation*, chapter 6 ("Decoding").

Model (Koehn 2010 §5.3.1, eq. 5.21 and the log-linear form of §5.3.4)
    ``score(e, a | f) = Σ_m λ_m h_m(e, a, f)`` over the eight :data:`FEATURES`, in this order::

        tm_fe        Σ_phrases log φ(f̄|ē)         (natural log; phrase-table score 1)
        lex_fe       Σ_phrases log lex(f̄|ē)       (score 2)
        tm_ef        Σ_phrases log φ(ē|f̄)         (score 3)
        lex_ef       Σ_phrases log lex(ē|f̄)       (score 4)
        lm           ln p_LM(e) = ln 10 · KenLM log10 score, with <s> and </s>
        distortion   −Σ_i |start_i − end_{i−1} − 1|  (linear distortion, §5.2.1 eq. 5.13;
                      source positions, end_0 = −1 so a monotone first phrase costs nothing)
        word_penalty −|e|  (number of target words)
        phrase_penalty −(number of phrases)

    **Sign convention.** Every feature is a log-probability or a *negative* count, so a
    *positive* weight makes the feature a cost and a *negative* weight a reward. The LM shortens
    translations (every word costs log-probability); the usual counterweight is a word *bonus*,
    i.e. a negative ``word_penalty`` weight. :data:`DEFAULT_WEIGHTS` are Moses-like untuned
    values: 0.2 on each translation-model score, 0.5 on the LM, 0.3 on distortion, −0.5 on the
    word penalty (a 0.5-nat bonus per word) and 0.2 on the phrase penalty (prefers fewer, longer
    phrases). MERT (:mod:`smt.tune`) replaces them.

    Phrase-table probabilities are logged with a floor of −100 (Moses' ``FloorScore``).
    **Unknown words.** A source word with no one-word translation option gets a copy-through
    option (the word itself) with log-probability :data:`UNKNOWN_LOGPROB` = −100 on each of the
    four translation-model features (the LM scores the copied word as usual, typically as
    ``<unk>``); the other features are computed as for any phrase.

Search (Koehn 2010 §6.2–6.3, Figure 6.6; the per-sentence search is :mod:`smt.search`)
    * Translation options: for every source span the phrase table's options, ranked by the
      pre-computed weighted score ``λ_tm·h_tm + λ_lm·LM-estimate − λ_wp·|ē| − λ_pp`` (LM estimate:
      the phrase scored without context) and cut to the best ``table_limit``.
    * Future cost (§6.3.3): ``cost[s][t]`` = best option estimate of the span, combined over spans
      by dynamic programming ``cost[s][t] = max(cost[s][t], max_k cost[s][k] + cost[k][t])``; a
      hypothesis' future cost is the sum over its maximal uncovered spans (no distortion part).
    * Reordering limit (§6.3.4): a phrase starting at ``s`` may follow a phrase ending at
      ``p`` (exclusive end) only if ``|s − p| ≤ d`` (``distortion_limit``; negative = none); and,
      as in Moses, if it does not start at the first uncovered position ``g`` then its end ``t``
      must stay within reach of that gap: ``t − g ≤ d``. (Should pruning leave only dead ends,
      the sentence is decoded again monotonically, which always succeeds.)
    * Stacks by number of covered source words (§6.2.3). Hypotheses with the same coverage,
      LM state (KenLM's minimal context) and last source position are recombined (§6.2.4),
      keeping the better one (the other is kept as an arc for n-best extraction).
    * Pruning (§6.2.5): histogram pruning to ``stack_size`` and threshold pruning, both on
      ``score + future cost``: a hypothesis worse than the stack's best by more than
      ``ln(beam_threshold)`` is dropped (``beam_threshold`` is a probability ratio as in Moses,
      default 1e-5; 0 disables). Both limits are applied as hypotheses arrive: once a stack has
      received ``stack_size`` distinct hypotheses, anything below the ``stack_size``-th best
      estimate so far would be histogram-pruned anyway and is not added (a stack growing beyond
      twice its size is also pruned at once). Before the LM is queried, an expansion whose
      context-free estimate (LM estimate instead of the LM score) already falls below the target
      stack's limit is skipped, and so are the worse options of that span ("early discarding").
    * The LM is queried incrementally through KenLM's state API
      (``model.BaseScore(in_state, word, out_state)``); scores are cached per (LM state, target
      phrase) within a sentence.
    * N-best lists (§6.2.4 "word lattice"): paths through the search graph are enumerated best
      first by replacing, at one node of a path, the hypothesis by one recombined with it
      (Moses' ``TrellisPath`` deviations); duplicates by target string are skipped (distinct;
      at most 20·N paths are looked at, so a list can come out shorter than N).
    * ``pop_limit=N`` replaces the stack search by cube pruning (Chiang 2007; Moses'
      ``-search-algorithm 1 -cube-pruning-pop-limit N``): at most N hypotheses are popped into each
      stack, best first from the "cubes" of hypothesis groups × span options (:mod:`smt.search`).

Lexicalised reordering (optional, ``reordering_table=``): the six msd-bidirectional-fe features of
:mod:`smt.reordering` follow the eight (14 weights); the orientation of every new phrase is scored
against the previous one in both directions, and recombination also keys on the last phrase pair
and its start. An unknown word's copy option has reordering log-probabilities 0.

Sentences are decoded in parallel worker processes (:meth:`Decoder.translate_corpus`).

CLI: ``python -m smt decode --phrase-table T --lm LM --input F --output F [--weights W.json]``.
"""
from __future__ import annotations

import argparse
import heapq
import math
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Sequence

import kenlm
import numpy as np

from data.io import add_alias, HelpFormatter, UserError, atomic_write, check_output_path, check_tokens, die_with_parent, progress, read_tokenized
from data.moses import read_phrase_table, read_reordering_table, source_ngrams
from smt.lm import LN10, load_lm
from smt.reordering import DISC, MONO, SWAP
from smt.search import _COV, _END, _LMS, _LR, _OPT, _PREV, _SCORE, _START, _TMF, _WORDS, SentenceSearch, recombination_key
from smt.unknown import UnknownWords
from smt.weights import (DEFAULT_WEIGHTS, DIST, FEATURES, LM, LR, N_FEATURES, PP, TM, WP,  # noqa: F401 (re-exported)
                         as_weights, default_weights, feature_names, read_weights)

#: Log-probability given to each translation-model feature of an unknown word's copy option.
UNKNOWN_LOGPROB = -100.0
#: Floor of the logged phrase-table probabilities (Moses' FloorScore).
LOG_FLOOR = -100.0



@dataclass
class Translation:
    """One decoded translation: tokens, feature vector h (order :data:`FEATURES`), score λ·h and
    the phrase alignment ``[((f_start, f_end), (e_start, e_end)), …]`` (exclusive ends, target order);
    with ``derivation=True`` (:meth:`Decoder.translate`) also ``derivation``: the best path's phrases
    in target order, each a dict (see :meth:`Decoder._derivation`)."""
    tokens: list[str]
    features: np.ndarray
    score: float
    alignment: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    derivation: list[dict] | None = None


def _log(p: float) -> float:
    return math.log(p) if p > 0 else LOG_FLOOR if p == 0 else float("nan")


class Decoder:
    """A phrase-based stack decoder over a Moses phrase table and a KenLM language model.

    The phrase table is read lazily and *filtered* to the source phrases of the sentences being
    decoded (like Moses' ``filter-model-given-input.pl``); decoding sentences with phrases not yet
    loaded re-reads the table for the union. Pass ``sentences`` to load for them up front, or
    ``filter_table=False`` to load the whole table once (better when calling :meth:`translate`
    on many unrelated sentences one at a time). ``recombine=False`` turns hypothesis
    recombination off (for checking; much slower). Other arguments: see the module docstring.
    """

    def __init__(self, phrase_table_path, lm_path, weights=DEFAULT_WEIGHTS, stack_size: int = 100,
                 distortion_limit: int = 6, beam_threshold: float = 1e-5, table_limit: int = 20,
                 sentences: Iterable[Sequence[str]] | None = None, filter_table: bool = True,
                 recombine: bool = True, reordering_table=None, pop_limit: int | None = None,
                 keep_alignments: bool = False):
        if stack_size < 1:
            raise UserError(f"stack size must be >= 1 (got {stack_size})")
        if not 0.0 <= beam_threshold <= 1.0:
            raise UserError(f"beam threshold must be a probability ratio in [0, 1] (got {beam_threshold})")
        if pop_limit is not None and pop_limit < 1:
            raise UserError(f"cube-pruning pop limit must be >= 1 (got {pop_limit}; none = the stack search)")
        if table_limit < 0:
            raise UserError(f"table limit must be >= 0 (got {table_limit}; 0 = no limit)")
        self.phrase_table_path = Path(phrase_table_path)
        self.lm_path = Path(lm_path)
        if not self.phrase_table_path.is_file():
            raise UserError(f"{self.phrase_table_path}: no such file")
        self.reordering_path = Path(reordering_table) if reordering_table is not None else None
        if self.reordering_path is not None and not self.reordering_path.is_file():
            raise UserError(f"{self.reordering_path}: no such file")
        self.lexicalised = self.reordering_path is not None
        self.features = feature_names(self.lexicalised)
        self.weights = as_weights(weights, self.lexicalised)
        self.stack_size = int(stack_size)
        self.distortion_limit = int(distortion_limit)
        self.beam_threshold = float(beam_threshold)
        self.table_limit = int(table_limit)
        self.recombine = bool(recombine)
        self.pop_limit = None if pop_limit is None else int(pop_limit)
        self.filter_table = bool(filter_table)
        # (f, e) -> the phrase pair's internal word alignment (the table's 4th field), for derivations
        self.keep_alignments = bool(keep_alignments)
        self._inner: dict[tuple, tuple] = {}
        self.lm = load_lm(self.lm_path)
        self._State = kenlm.State
        self._table: dict[tuple[str, ...], list] | None = None   # f -> [(e, 4 log-probs)]
        self._loaded_grams: set[tuple[str, ...]] = set()
        self._max_len = 1
        self._eids: dict[tuple[str, ...], int] = {}     # interned target phrases
        self._word_ids: dict[str, int] = {}              # interned target words
        self._lm_est: dict[tuple[str, ...], float] = {}  # ln p_LM(ē) without context
        self._opt_cache: dict[tuple[str, ...], list] = {}
        self._opt_weights: tuple | None = None
        self._source: list[str] | None = None            # the sentence whose derivation is being read
        if sentences is not None:
            self._ensure_table(list(sentences))

    # -- model loading ------------------------------------------------------------------------

    def _ensure_table(self, sentences: Sequence[Sequence[str]]) -> None:
        """Make sure every source n-gram of ``sentences`` has had its options loaded."""
        sources = None
        if not self.filter_table:
            if self._table is not None:
                return
        else:
            grams = source_ngrams(sentences)
            if self._table is not None and grams <= self._loaded_grams:
                return
            self._loaded_grams |= grams
            sources = [list(g) for g in self._loaded_grams]
        raw = read_phrase_table(self.phrase_table_path, table_limit=None, sources=sources)
        rt = read_reordering_table(self.reordering_path, sources=sources) if self.lexicalised else None
        table = {}
        for f, options in raw.items():
            rows = []
            for o in options:
                e = tuple(o.e)
                lr = None
                if rt is not None:
                    p = rt.get((f, e))
                    if p is None:
                        raise UserError(f"{self.reordering_path}: no entry for the phrase pair "
                                        f"{' '.join(f)!r} ||| {' '.join(e)!r} of {self.phrase_table_path}")
                    lr = tuple(max(_log(float(x)), LOG_FLOOR) for x in p)
                rows.append((e, tuple(max(_log(float(x)), LOG_FLOOR) for x in o.scores), lr))
                if self.keep_alignments:
                    self._inner[(f, e)] = o.alignment
            table[f] = rows
        self._table = table
        self._max_len = max((len(f) for f in table), default=1)
        self._opt_cache.clear()

    def _eid(self, e: tuple[str, ...]) -> int:
        eid = self._eids.get(e)
        if eid is None:
            eid = self._eids[e] = len(self._eids)
        return eid

    def _wids(self, e: tuple[str, ...]) -> tuple[int, ...]:
        wids = self._word_ids
        return tuple(wids.setdefault(word, len(wids)) for word in e)

    def _lm_estimate(self, e: tuple[str, ...]) -> float:
        """ln p_LM(ē) scored without context (KenLM's null context), for ranking and future cost."""
        v = self._lm_est.get(e)
        if v is None:
            State, model = self._State, self.lm
            st, total = State(), 0.0
            model.NullContextWrite(st)
            for w in e:
                out = State()
                total += model.BaseScore(st, w, out)
                st = out
            v = self._lm_est[e] = total * LN10
        return v

    def _options(self, f: tuple[str, ...], w: np.ndarray) -> list:
        """The translation options of source phrase ``f`` under weights ``w``, best first, cut to table_limit."""
        key = tuple(w.tolist())
        if key != self._opt_weights:
            self._opt_cache.clear()
            self._opt_weights = key
        opts = self._opt_cache.get(f)
        if opts is None:
            w_tm = w[TM].tolist()
            w_lm, w_wp, w_pp = float(w[LM]), float(w[WP]), float(w[PP])
            opts = []
            for e, tmf, lr in self._table.get(f, ()):
                static = (w_tm[0] * tmf[0] + w_tm[1] * tmf[1] + w_tm[2] * tmf[2] + w_tm[3] * tmf[3]
                          - w_wp * len(e) - w_pp)
                est = static + w_lm * self._lm_estimate(e)
                opts.append((est, static, self._eid(e), e, tmf, self._wids(e), lr))
            opts.sort(key=itemgetter(0), reverse=True)
            if self.table_limit:
                del opts[self.table_limit:]
            self._opt_cache[f] = opts
        return opts

    def _unknown_option(self, word: str, w: np.ndarray) -> tuple:
        e = (word,)
        tmf = (UNKNOWN_LOGPROB,) * 4
        static = float(w[TM].sum()) * UNKNOWN_LOGPROB - float(w[WP]) - float(w[PP])
        lr = (0.0,) * 6 if self.lexicalised else None
        return (static + float(w[LM]) * self._lm_estimate(e), static, self._eid(e), e, tmf, self._wids(e), lr)

    # -- search -------------------------------------------------------------------------------

    def translate(self, tokens: Sequence[str], nbest: int = 1, weights=None, derivation: bool = False) -> list[Translation]:
        """Decode one tokenised sentence; returns up to ``nbest`` distinct translations, best first.

        An empty sentence gives one empty translation (its features: the LM score of ``<s> </s>``).
        ``derivation``: each translation also carries its phrases (:meth:`_derivation`), walked back
        from the final hypothesis along its back-pointers after the search (the search is unchanged).
        """
        tokens = [str(t) for t in tokens]
        self._ensure_table([tokens])
        w = self.weights if weights is None else as_weights(weights, self.lexicalised)
        return self._search(tokens, w, max(1, int(nbest)), derivation=derivation)

    def _search(self, f: list[str], w: np.ndarray, nbest: int, distortion_limit: int | None = None,
                derivation: bool = False) -> list[Translation]:
        """Decode one sentence: its translation options per span, then the search of
        :class:`smt.search.SentenceSearch` (stack search, or cube pruning when ``pop_limit`` is set)."""
        n = len(f)
        self._source = f if derivation else None
        State, model = self._State, self.lm
        if n == 0:   # only the LM's <s> </s>
            st = State()
            model.BeginSentenceWrite(st)
            h = np.zeros(len(self.features))
            h[LM] = model.BaseScore(st, "</s>", State()) * LN10
            return [Translation([], h, float(np.dot(w, h)), [], [] if derivation else None)]
        d = self.distortion_limit if distortion_limit is None else distortion_limit
        search = SentenceSearch(self._span_options(f, w), model, State, w, stack_size=self.stack_size,
                                distortion_limit=d, beam_threshold=self.beam_threshold, max_len=self._max_len,
                                recombine=self.recombine, lexicalised=self.lexicalised, keep_arcs=nbest > 1)
        finals = search.stack_search() if self.pop_limit is None else search.cube_search(self.pop_limit)
        if finals is None:
            if 0 <= d < n:   # every hypothesis ran into a dead end under the reordering limit
                return self._search(f, w, nbest, distortion_limit=0, derivation=derivation)
            raise RuntimeError("decoder found no translation")   # cannot happen: unknown words are copied
        finals.sort(key=itemgetter(_SCORE), reverse=True)
        if nbest == 1:
            out = [self._make_translation(self._chain(finals[0]), w, derivation)]
        else:
            out = self._nbest(finals, search.groups, w, nbest, derivation)
        return out

    def _span_options(self, f: list[str], w: np.ndarray) -> list[list[list]]:
        """``options[s][t]``: the translation options of span [s, t), best first (an unknown
        one-word span gets the copy option; spans without options get ``[]``)."""
        n, ftup, table, max_len = len(f), tuple(f), self._table, self._max_len
        options: list[list[list]] = [[[] for _ in range(n + 1)] for _ in range(n + 1)]
        for s in range(n):
            for t in range(s + 1, min(n, s + max_len) + 1):
                opts = self._options(ftup[s:t], w) if ftup[s:t] in table else []
                if t == s + 1 and not opts:
                    opts = [self._unknown_option(f[s], w)]
                options[s][t] = opts
        return options

    @staticmethod
    def _chain(hyp) -> list:
        """The hypotheses of a path from ``hyp`` back to (excluding) the empty hypothesis."""
        out = []
        while hyp[_PREV] is not None:
            out.append(hyp)
            hyp = hyp[_PREV]
        return out

    def _nbest(self, finals: list, groups: dict, w: np.ndarray, nbest: int, derivation: bool = False) -> list[Translation]:
        """Best-first enumeration of paths (Moses' TrellisPath deviations), distinct by target string.

        A path is a final hypothesis followed back; a *deviation* at position ``j`` replaces the
        path's hypothesis there by another one recombined with it (same state, so everything after
        it scores the same) and follows that one's back-pointers. Alternatives are tried lazily in
        score order: popping a deviation pushes its next sibling (Huang & Chiang 2005, alg. 3).
        """
        sorted_groups: dict = {}

        lex = self.lexicalised

        def alternatives(h) -> list:
            key = recombination_key(h, lex)
            g = sorted_groups.get(key)
            if g is None:
                g = sorted_groups[key] = sorted(groups.get(key, ()), key=itemgetter(_SCORE), reverse=True)
            return g

        tie = 0
        heap = []
        for h in finals:
            tie += 1
            heap.append((-h[_SCORE], tie, (), h, 0, None))
        heapq.heapify(heap)
        out: list[Translation] = []
        seen: set[tuple[str, ...]] = set()
        pops = 0
        while heap and len(out) < nbest and pops < 20 * nbest:
            neg, _, prefix, node, dev, sib = heapq.heappop(heap)
            pops += 1
            path = list(prefix) + self._chain(node)
            key = tuple(word for hyp in reversed(path) for word in hyp[_OPT][_WORDS])
            if key not in seen:
                seen.add(key)
                out.append(self._make_translation(path, w, derivation))
            if sib is not None:                      # the next alternative at the same position
                base, g, idx, replaced = sib
                idx += 1
                if idx < len(g) and g[idx] is replaced:
                    idx += 1
                if idx < len(g):
                    tie += 1
                    heapq.heappush(heap, (-(base + g[idx][_SCORE]), tie, prefix, g[idx], dev, (base, g, idx, replaced)))
            score = -neg
            for j in range(dev, len(path)):          # the best deviation at each later position
                h = path[j]
                g = alternatives(h)
                idx = 1 if g and g[0] is h else 0
                if idx < len(g):
                    base = score - h[_SCORE]
                    tie += 1
                    heapq.heappush(heap, (-(base + g[idx][_SCORE]), tie, tuple(path[:j]), g[idx], j + 1,
                                          (base, g, idx, h)))
        return out

    def _make_translation(self, path: list, w: np.ndarray, derivation: bool = False) -> Translation:
        """Features, score and phrase alignment of a path (listed from the last phrase back); with
        ``derivation``, its phrases too (:meth:`_derivation`)."""
        h = np.zeros(len(self.features))
        if self.lexicalised:
            h[LR:] = _reordering_features(path)
        tokens: list[str] = []
        alignment = []
        tm = [0.0, 0.0, 0.0, 0.0]
        lm10 = dist = 0.0
        prev_end = 0
        nphr = 0
        for hyp in reversed(path):
            opt = hyp[_OPT]
            for i, v in enumerate(opt[_TMF]):
                tm[i] += v
            lm10 += hyp[_LMS]
            dist -= abs(hyp[_START] - prev_end)
            prev_end = hyp[_END]
            words = opt[_WORDS]
            alignment.append(((hyp[_START], hyp[_END]), (len(tokens), len(tokens) + len(words))))
            tokens.extend(words)
            nphr += 1
        h[TM] = tm
        h[LM] = lm10 * LN10
        h[DIST] = dist
        h[WP] = -len(tokens)
        h[PP] = -nphr
        return Translation(tokens, h, float(np.dot(w, h)), alignment, self._derivation(path) if derivation else None)

    def _derivation(self, path: list) -> list[dict]:
        """The phrases of a path (listed from the last phrase back, as :meth:`_chain` gives it), in
        target order: ``source`` span [start, end), ``target`` words, ``tm`` (the four phrase-table
        log-probabilities, order of :data:`FEATURES`), ``lm`` (ln p_LM of the phrase's words in
        context, ``</s>`` included for the last), ``distortion`` (−|start − previous end|, Koehn 2010
        eq. 5.13), ``orientation`` against the previous phrase (monotone / swap / discontinuous, as
        msd-bidirectional-fe counts it, smt/reordering.py), ``reordering`` (that pair's six
        log-probabilities, lexicalised systems only), ``unknown`` (a copied unknown word) and
        ``alignment`` (the pair's internal links, with ``keep_alignments``; None if not known)."""
        names = ("mono", "swap", "disc")
        out, prev_start, prev_end = [], 0, 0
        for hyp in reversed(path):
            s, t, opt = hyp[_START], hyp[_END], hyp[_OPT]
            o = MONO if s == prev_end else (SWAP if t == prev_start else DISC)
            f = tuple(self._source[s:t]) if self._source is not None else None
            e = tuple(opt[_WORDS])
            unknown = opt[_TMF] == (UNKNOWN_LOGPROB,) * 4 and len(e) == 1 and f == e and (f not in self._table)
            out.append({"source": [s, t], "target": list(e), "tm": list(opt[_TMF]), "lm": hyp[_LMS] * LN10,
                        "distortion": -abs(s - prev_end), "orientation": names[o],
                        "reordering": list(opt[_LR]) if opt[_LR] is not None else None, "unknown": bool(unknown),
                        "alignment": (sorted(self._inner[(f, e)]) if (f, e) in self._inner else None)
                        if self.keep_alignments else None})
            prev_start, prev_end = s, t
        return out

    # -- corpora ------------------------------------------------------------------------------

    def translate_corpus(self, sentences: Sequence[Sequence[str]], weights=None, nbest: int = 1,
                         processes: int = 2, desc: str = "decode") -> list[list[Translation]]:
        """Decode many sentences (order kept) in ``processes`` worker processes; n-best lists per sentence.

        The table is loaded (filtered to ``sentences``) in this process before the workers start;
        each worker gets the loaded model once, by ``fork`` where available, otherwise by loading
        it in the pool's initializer.
        """
        sentences = [[str(t) for t in s] for s in sentences]
        self._ensure_table(sentences)
        w = self.weights if weights is None else as_weights(weights, self.lexicalised)
        nbest = max(1, int(nbest))
        processes = max(1, min(int(processes), len(sentences)))
        bar = progress(total=len(sentences), desc=desc, unit="sent")
        results: list[list[Translation]] = []
        try:
            if processes == 1:
                for s in sentences:
                    results.append(self._search(s, w, nbest))
                    bar.update(1)
                return results
            global _WORKER
            methods = mp.get_all_start_methods()
            if "fork" in methods:
                ctx, initargs = mp.get_context("fork"), (None,)
                _WORKER = self
            else:
                ctx, initargs = mp.get_context("spawn"), (self._config(sentences),)
            chunk = max(1, min(8, len(sentences) // (processes * 8)))
            try:
                with ctx.Pool(processes, initializer=_init_worker, initargs=initargs) as pool:
                    for r in pool.imap(_work, ((s, w, nbest) for s in sentences), chunksize=chunk):
                        results.append(r)
                        bar.update(1)
            finally:
                _WORKER = None
            return results
        finally:
            bar.close()

    def _config(self, sentences) -> dict:
        return dict(phrase_table_path=str(self.phrase_table_path), lm_path=str(self.lm_path),
                    weights=self.weights.tolist(), stack_size=self.stack_size,
                    distortion_limit=self.distortion_limit, beam_threshold=self.beam_threshold,
                    table_limit=self.table_limit, sentences=sentences, filter_table=self.filter_table,
                    recombine=self.recombine, pop_limit=self.pop_limit, keep_alignments=self.keep_alignments,
                    reordering_table=str(self.reordering_path) if self.reordering_path is not None else None)


def _reordering_features(path: list) -> list[float]:
    """The six msd-bidirectional-fe feature values of a path (listed from the last phrase back):
    Σ log p_prev(o_k | pair k) and Σ log p_next(o_{k+1} | pair k), the sentence end closing the last."""
    lr = [0.0] * 6
    prev_start = prev_end = 0
    prev = None
    for hyp in reversed(path):
        s, t, opt = hyp[_START], hyp[_END], hyp[_OPT]
        o = MONO if s == prev_end else (SWAP if t == prev_start else DISC)
        lr[o] += opt[_LR][o]
        if prev is not None:
            lr[3 + o] += prev[_LR][3 + o]
        prev, prev_start, prev_end = opt, s, t
    if prev is not None:
        n = bin(path[0][_COV]).count("1")
        o_end = MONO if prev_end == n else DISC
        lr[3 + o_end] += prev[_LR][3 + o_end]
    return lr


_WORKER: Decoder | None = None


def _init_worker(config: dict | None) -> None:
    """Pool initializer: the decoder (table + LM) is loaded once per worker process."""
    global _WORKER
    os.environ["MT_NO_PROGRESS"] = "1"
    die_with_parent()
    if config is not None:
        _WORKER = Decoder(**config)


def _work(job):
    tokens, w, nbest = job
    return _WORKER._search(tokens, w, nbest)


# ------------------------------------------------------------------------------------------
# n-best lists (Moses format) and CLI
# ------------------------------------------------------------------------------------------

def format_nbest(i: int, t: Translation) -> str:
    """Moses n-best line ``i ||| hyp ||| tm_fe= -3.2 lex_fe= … ||| score``."""
    names = feature_names(len(t.features) > N_FEATURES)
    feats = " ".join(f"{name}= {v:.10g}" for name, v in zip(names, t.features.tolist()))
    return f"{i} ||| {' '.join(t.tokens)} ||| {feats} ||| {t.score:.10g}"


def parse_nbest(line: str) -> tuple[int, list[str], np.ndarray, float]:
    """Inverse of :func:`format_nbest`: ``(sentence index, tokens, features, score)``."""
    fields = line.rstrip("\n").split(" ||| ")
    if len(fields) != 4:
        raise ValueError(f"expected 4 ' ||| '-separated fields, found {len(fields)}")
    parts = fields[2].split()
    names, values = parts[0::2], parts[1::2]
    if [n.rstrip("=") for n in names] not in (feature_names(False), feature_names(True)):
        raise ValueError(f"features {names} differ from {FEATURES} (+ the lexicalised-reordering ones)")
    return int(fields[0]), fields[1].split(), np.array([float(v) for v in values]), float(fields[3])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m smt decode",
        description="Phrase-based stack decoding (Koehn 2004): translate tokenised source sentences "
                    "with a Moses phrase table, a KenLM language model and log-linear weights.",
        formatter_class=HelpFormatter)
    p.add_argument("--phrase-table", required=True, help="Moses phrase table (text, .gz ok)")
    p.add_argument("--lm", required=True, help="KenLM language model (ARPA or binary)")
    p.add_argument("--input", required=True, help="tokenised source text, one sentence a line (empty lines -> empty output)")
    p.add_argument("--output", required=True, help="translations (tokenised), one a line")
    p.add_argument("--weights", help="weights JSON {\"features\": [...], \"weights\": [8 floats, 14 with "
                                     "--reordering-table]} (default: Moses-like untuned weights, see smt/weights.py)")
    p.add_argument("--reordering-table", help="msd-bidirectional-fe lexicalised reordering table (smt/reordering.py; "
                                              "default: distance-based reordering only)")
    p.add_argument("--nbest", type=int, default=0, help="n-best list size (needs --nbest-out)")
    p.add_argument("--nbest-out", help="write Moses-format n-best lists here")
    p.add_argument("--stack-size", type=int, default=100, help="histogram pruning: hypotheses kept per stack")
    p.add_argument("--beam-threshold", type=float, default=1e-5,
                   help="threshold pruning: drop hypotheses below best x this ratio; 0 = off")
    p.add_argument("--distortion-limit", type=int, default=6, help="maximum jump in source words (-1 = unlimited)")
    p.add_argument("--pop-limit", type=int, default=None, metavar="N",
                   help="cube pruning (Moses' search-algorithm 1) with at most N hypotheses popped per stack "
                        "(smt/search.py; default: the stack search)")
    p.add_argument("--table-limit", type=int, default=20, help="translation options per source phrase (0 = all)")
    p.add_argument("--jobs", type=int, default=2, help="decoder worker processes")
    add_alias(p, "--processes", "jobs", type=int)
    p.add_argument("--source-words", metavar="TSV",
                   help="rewrite unknown source words into known ones first (smt/unknown.py), with this training "
                        "vocabulary: a system's source-words.tsv (default: unknown words are copied)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.jobs < 1:
        raise UserError("--jobs must be >= 1")
    if args.nbest < 0:
        raise UserError("--nbest must be >= 0")
    if args.pop_limit is not None and args.pop_limit < 1:
        raise UserError("--pop-limit must be >= 1")
    if bool(args.nbest_out) != bool(args.nbest):
        raise UserError("--nbest and --nbest-out go together")
    check_output_path(args.output)
    if args.nbest_out:
        check_output_path(args.nbest_out, "--nbest-out")
    weights = default_weights(args.reordering_table is not None)
    if args.weights:
        weights = read_weights(args.weights)
    sentences = read_tokenized(args.input, allow_empty_file=True)
    if args.source_words:
        sentences, _, info = UnknownWords.load(args.source_words).rewrite_corpus(sentences)
        print(f"{args.source_words}: {info['rewritten']:,} unknown source tokens "
              f"rewritten, {info['unknown_left']:,} left", file=sys.stderr)
    check_tokens(args.input, sentences)
    decoder = Decoder(args.phrase_table, args.lm, weights=weights, stack_size=args.stack_size,
                      distortion_limit=args.distortion_limit, beam_threshold=args.beam_threshold,
                      table_limit=args.table_limit, sentences=sentences, reordering_table=args.reordering_table,
                      pop_limit=args.pop_limit)
    t0 = time.time()
    out = decoder.translate_corpus(sentences, nbest=max(1, args.nbest), processes=args.jobs)
    secs = time.time() - t0
    with atomic_write(args.output) as fh:
        for hyps in out:
            fh.write(" ".join(hyps[0].tokens) + "\n")
    if args.nbest_out:
        with atomic_write(args.nbest_out) as fh:
            for i, hyps in enumerate(out):
                for t in hyps:
                    fh.write(format_nbest(i, t) + "\n")
    print(f"decoded {len(sentences):,} sentences in {secs:.1f} s "
          f"({len(sentences) / max(secs, 1e-9):.1f} sent/s) -> {args.output}")
    return 0


if __name__ == "__main__":
    from data.io import run_cli
    run_cli(main)
