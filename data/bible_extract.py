#!/usr/bin/env python3
"""Build the embedded default corpus ``bible`` (Spanish <-> English, verse-aligned).

Source
------
Two public-domain Bibles distributed by Debian as SWORD modules:

* ``spaRV1909eb``  -- Santa Biblia Reina-Valera 1909 (Debian package
  ``sword-text-sparv``), OSIS markup, declared versification KJV.
* ``engWEB2015eb`` -- World English Bible, 2020 stable text (Debian package
  ``sword-text-web``), OSIS markup, declared versification NRSVA.

The raw OSIS entry of every verse is read through libsword's Python binding
(Debian ``python3-sword``), the markup is converted to plain text here (we do
*not* use ``diatheke -f plain``, which glues words and splits poetry over
several lines), and the two Bibles are paired by OSIS reference (``Gen.1.1``).
Only the 66 books present in both are used; the WEB deuterocanon has no
Spanish counterpart.

Pitfalls handled
----------------
1. Markup.  ``<w lemma="strong:...">`` (Strong's tags), ``<transChange>``,
   ``<q>``, ``<name>``, ... are unwrapped; ``<note>`` (footnotes and
   cross-references), ``<speaker>`` (Song of Songs speaker labels) and
   non-canonical ``<title>`` headings are removed with their content.
   Canonical psalm superscriptions (``<title canonical="true">``) are kept,
   because RV1909 has them as part of verse 1 as well.  Everything after the
   ``<chapter eID=.../>`` end marker is cut: this removes the book-end
   markers and the WEB glossary that the module appends to Rev 22:21.
   Poetry line/stanza markers become spaces, so every verse is ONE line;
   whitespace is normalised and the text is Unicode NFC.  Casing and
   punctuation are kept (no tokenisation: that is the pipeline's job).

2. Glued words.  Deleting markup naively runs words together ("Godcreated",
   "primerdíade"), because in the OSIS source the word boundary is often
   expressed only by an element boundary, not by a space:
   * WEB: ``God</w><note>...</note><w>created``.  Every removed block
     element (note, title, speaker, line/paragraph milestone, ...) is
     replaced by a *block boundary*, which becomes a space unless it sits
     after an opening bracket/quote or before closing punctuation
     (``word.<note/>”`` stays ``word.”``).
   * RV1909: ``<w>primer</w><transChange>día</transChange><w>de</w>``.
     Between two inline elements with letters on both sides and no
     whitespace, a space is inserted -- except for Spanish enclitic
     pronouns, which the module also marks this way
     (``Júrame<transChange>lo</transChange>`` = "Júramelo").  The boundary is
     closed (no space) iff the right part consists only of clitics
     (me/te/se/nos/os/lo/la/los/las/le/les) *and* the joined form is
     attested elsewhere in the module, or the left part never occurs as a
     word on its own, or it ends like an infinitive, plural imperative or
     gerund (-ar/-er/-ir/-ír, -ad/-ed/-id, -ndo).  This is a heuristic: a
     handful of the ~590 decisions are wrong either way (e.g. "subióla").
   The script prints how many boundaries got a space, how many were closed,
   and a residual glue diagnostic (see ``glue_diagnostics``).

3. Versification.  RV1909 claims KJV numbering but in some chapters
   (e.g. Num 13 and 30, 1 Sam 24, 1 Kgs 22, 1 Chr 21, 2 Chr 33, Job 39-40,
   Hos 12, Jonah 2) its verses follow the traditional Spanish numbering, so
   pairing by reference yields pairs that are not translations of each
   other.  Detection is generic (no hard-coded list):
   * a crude bilingual lexicon is estimated from all same-reference pairs
     (Dice coefficient over verse co-occurrence; misaligned pairs are <1 %
     and do not disturb it);
   * a pair's score is the share of Spanish content words one of whose
     top-3 English translations occurs in the English verse
     (about 0.73 for aligned pairs, 0.03 for random pairs);
   * for every Spanish verse we compare the mean score over a 3-verse window
     at offset 0 with offsets -6..+6 in the English book (crossing chapter
     boundaries); a verse is *flagged* when some non-zero offset scores at
     least 0.25 higher;
   * in each chapter the span from the first to the last flagged verse is
     dropped, widened by one verse on each side and extended to the chapter
     edge when it comes within two verses of it (the verses at the edge of a
     renumbered stretch are usually split/merged differently).
   The detected chapters and spans are printed and written to the README.
   Pairs are dropped rather than re-aligned: at the edges of a renumbered
   stretch verses are split and merged differently, so a shifted pairing
   would produce partial translations.

4. Empty verses (either side empty after cleaning) are dropped.

Split rule
----------
For each kept pair, ``h = int(sha1("bible:" + ref).hexdigest()[:8], 16) %
10000``; ``h < 325`` -> dev, ``325 <= h < 650`` -> test, otherwise train
(~3.25 % each, i.e. about 1,000 verses).  Membership depends only on the
reference, so it is stable if the filtering changes.  Then every train pair
whose Spanish or English side equals (exactly) a Spanish or English sentence
of dev or test is dropped from train, and every dev pair that shares a
sentence with test is dropped from dev, so no test sentence is seen in
training.  Train keeps canonical (book/chapter/verse) order; dev and test
too.

Outputs
-------
``{train,dev,test}.{es,en}.gz``: UTF-8, one verse per line, line-aligned,
gzip with mtime=0 and no embedded file name (byte-reproducible), plus
``README.md`` with versions, counts and drop statistics.  Every file is
written to a temporary file in the output directory and then renamed.

Re-running
----------
    apt-get install sword-text-sparv sword-text-web python3-sword
    python3 data/bible_extract.py --out data/corpora/bible

``Sword`` is only importable by Debian's system interpreter; if the running
interpreter (e.g. a virtualenv) lacks it the script re-executes itself with
``/usr/bin/python3``.
"""

import argparse
import collections
import gzip
import hashlib
import html
import io
import math
import os
import re
import statistics
import sys
import tempfile
import unicodedata

try:
    import Sword  # Debian python3-sword
except ImportError:  # pragma: no cover - depends on the host
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("BIBLE_EXTRACT_REEXEC"):
        os.environ["BIBLE_EXTRACT_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("error: the SWORD Python binding is missing; apt-get install python3-sword "
             "(and run with /usr/bin/python3)")

ES_MODULE = "spaRV1909eb"
EN_MODULE = "engWEB2015eb"
DEBIAN_PACKAGES = {ES_MODULE: "sword-text-sparv", EN_MODULE: "sword-text-web"}

# Split parameters (see module docstring).
SPLIT_SALT = "bible:"
SPLIT_MOD = 10000
DEV_BELOW = 325
TEST_BELOW = 650

# ---------------------------------------------------------------------------
# Reading the modules
# ---------------------------------------------------------------------------


def read_module(mgr, name):
    """Return (ordered list of OSIS refs, {ref: raw OSIS text}) for all verses."""
    mod = mgr.getModule(name)
    if mod is None:
        sys.exit(f"error: SWORD module {name} not installed (apt-get install {DEBIAN_PACKAGES[name]})")
    vk = Sword.VerseKey.castTo(mod.createKey())
    vk.setIntros(False)
    vk.setText("Gen 1:1")
    vk.popError()
    order, raw, seen = [], {}, set()
    while True:
        ref = vk.getOSISRef()
        if ref in seen:
            break
        seen.add(ref)
        mod.setKey(vk)
        order.append(ref)
        raw[ref] = mod.getRawEntry()
        vk.increment(1)
        if ord(vk.popError()):  # non-zero error = walked past Rev 22:21 / end
            break
    return order, raw, mod


def module_info(mod):
    return {k: mod.getConfigEntry(k) or "" for k in
            ("Description", "Version", "SwordVersionDate", "Versification", "DistributionLicense")}


# ---------------------------------------------------------------------------
# OSIS -> plain text
# ---------------------------------------------------------------------------

BLOCK = "\x00"   # element boundary that separates words unless punctuation says otherwise
INLINE = "\x01"  # boundary between two inline elements (may be inside a word)

# Elements that only wrap running text; their tags are removed without a boundary.
INLINE_ELEMENTS = {"w", "transChange", "q", "name", "seg", "hi", "catchWord", "reference",
                   "rdg", "foreign", "divineName", "mentioned", "abbr", "a", "index", "inscription"}
DROP_WITH_CONTENT = re.compile(
    r"<note\b[^>]*>.*?</note>"
    r"|<speaker\b[^>]*>.*?</speaker>"
    r"|<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>",
    re.S)
TAG_RUN = re.compile(r"(?:<[^>]*>)+")
TAG_NAME = re.compile(r"</?([A-Za-z]+)")
OPENERS = set("“‘([¿¡—-")
CLOSERS = set(".,;:!?”’)]—-")
CLITIC = re.compile(r"(?:me|te|se|nos|os|lo|la|los|las|le|les)+", re.I)
WORD = re.compile(r"\w+")
# infinitives, plural imperatives and gerunds: the usual hosts of enclitics
VERB_HOST = re.compile(r"(?:[aeií]r|[aei]d|ndo)$", re.I)


def markup_to_marked_text(raw):
    """OSIS -> text containing BLOCK/INLINE boundary markers (resolved later)."""
    t = raw
    end = t.find("<chapter eID=")
    if end >= 0:  # book-end markers, WEB glossary after Rev 22:21
        t = t[:end]
    t = DROP_WITH_CONTENT.sub(BLOCK, t)

    def run(m):
        names = TAG_NAME.findall(m.group(0))
        return INLINE if all(n in INLINE_ELEMENTS for n in names) else BLOCK
    t = TAG_RUN.sub(run, t)
    if "<" in t or ">" in t:
        t = t.replace("<", " ").replace(">", " ")
    t = html.unescape(t)
    return unicodedata.normalize("NFC", t)


def resolve_block(t, stats):
    def rep(m):
        s = m.group(0)
        pre = t[m.start() - 1] if m.start() > 0 else ""
        post = t[m.end()] if m.end() < len(t) else ""
        if not pre or not post:
            return ""
        if any(ch.isspace() for ch in s):
            return " "
        if pre in OPENERS or post in CLOSERS:
            stats["block boundary without space (punctuation)"] += 1
            return ""
        if pre.isalnum() and post.isalnum():
            stats["block boundary -> space between words"] += 1
        else:
            stats["block boundary -> space after punctuation"] += 1
        return " "
    return re.sub(r"[\s%s%s]*%s[\s%s%s]*" % (BLOCK, INLINE, BLOCK, BLOCK, INLINE), rep, t)


def resolve_inline(t, freq, stats):
    def rep(m):
        a, b = m.group(1), m.group(2)
        if CLITIC.fullmatch(b) and (freq[(a + b).lower()] > 0 or freq[a.lower()] == 0
                                    or VERB_HOST.search(a)):
            stats["inline boundary closed (enclitic pronoun)"] += 1
            return a + b
        stats["inline boundary -> space between words"] += 1
        return a + " " + b
    # repeated because one word may touch two boundaries (a|b|c)
    prev = None
    while prev != t:
        prev = t
        t = re.sub(r"(\w+)%s(\w+)" % INLINE, rep, t, count=0)
    return t.replace(INLINE, "")


def standalone_freq(texts):
    """Token frequencies, ignoring tokens that touch an inline boundary."""
    freq = collections.Counter()
    for t in texts:
        t = re.sub(r"\w*(?:%s\w*)+" % INLINE, " ", t.replace(BLOCK, " "))
        freq.update(w.lower() for w in WORD.findall(t))
    return freq


def clean_module(raw, stats):
    marked = {r: markup_to_marked_text(t) for r, t in raw.items()}
    freq = standalone_freq(marked.values())
    out = {}
    for r, t in marked.items():
        t = resolve_block(t, stats)
        t = resolve_inline(t, freq, stats)
        out[r] = re.sub(r"\s+", " ", t).strip()
    return out


def naive_text(raw):
    """What plain tag stripping gives (used only to count glued words we avoided)."""
    end = raw.find("<chapter eID=")
    t = raw[:end] if end >= 0 else raw
    t = DROP_WITH_CONTENT.sub("", t)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]*>", "", t)).strip()


def glue_diagnostics(raw, clean):
    """(tokens glued by naive stripping that we split, residual camel-case tokens)."""
    fixed = 0
    for r, t in raw.items():
        a = collections.Counter(WORD.findall(naive_text(t)))
        b = collections.Counter(WORD.findall(clean[r]))
        fixed += sum((a - b).values())
    camel = collections.Counter()
    for t in clean.values():
        camel.update(m.group(0) for m in re.finditer(r"\b\w*[a-záéíóúñü][A-ZÁÉÍÓÚÑ]\w*", t))
    return fixed, camel


# ---------------------------------------------------------------------------
# Versification check
# ---------------------------------------------------------------------------

LEX_TOKEN = re.compile(r"[^\W\d_]+")


def lex_tokens(t):
    return {w.lower() for w in LEX_TOKEN.findall(t)}


def build_lexicon(pairs, min_freq=3, max_freq=3000, top=3, min_dice=0.2):
    """es word -> set of its best English translations by Dice coefficient."""
    toks = [(lex_tokens(a), lex_tokens(b)) for a, b in pairs]
    fs, fe = collections.Counter(), collections.Counter()
    for a, b in toks:
        fs.update(a)
        fe.update(b)
    ok_s = {w for w, c in fs.items() if min_freq <= c <= max_freq}
    ok_e = {w for w, c in fe.items() if min_freq <= c <= max_freq}
    co = collections.Counter()
    for a, b in toks:
        bb = [w for w in b if w in ok_e]
        for x in a:
            if x in ok_s:
                for y in bb:
                    co[(x, y)] += 1
    cand = collections.defaultdict(list)
    for (x, y), c in co.items():
        if c >= 2:
            cand[x].append((2 * c / (fs[x] + fe[y]), y))
    lex = {}
    for x, v in cand.items():
        best = {y for d, y in sorted(v, reverse=True)[:top] if d >= min_dice}
        if best:
            lex[x] = best
    return lex


def pair_score(lex, es, en):
    src = [w for w in lex_tokens(es) if w in lex]
    if not src:
        return None
    tgt = lex_tokens(en)
    return sum(1 for w in src if lex[w] & tgt) / len(src)


def ref_parts(ref):
    book, ch, v = ref.split(".")
    return book, int(ch), int(v)


def detect_misnumbered(lex, es, en, order_es, order_en, window=1, max_offset=6, margin=0.25):
    """Return ({ref: best offset} for flagged verses, {ref: (score@0, best offset, score@best)})."""
    en_index, en_list = {}, collections.defaultdict(list)
    for r in order_en:
        if en.get(r):
            b = r.split(".")[0]
            en_index[r] = len(en_list[b])
            en_list[b].append(r)
    by_book = collections.defaultdict(list)
    for r in order_es:
        if es.get(r) and en.get(r):
            by_book[r.split(".")[0]].append(r)
    flagged, info = {}, {}
    for b, refs in by_book.items():
        L, cache = en_list[b], {}

        def score(i, d):
            if (i, d) not in cache:
                j = en_index[refs[i]] + d
                cache[(i, d)] = pair_score(lex, es[refs[i]], en[L[j]]) if 0 <= j < len(L) else None
            return cache[(i, d)]
        for i, r in enumerate(refs):
            sc = {}
            for d in range(-max_offset, max_offset + 1):
                vals = [score(k, d) for k in range(max(0, i - window), min(len(refs), i + window + 1))]
                vals = [x for x in vals if x is not None]
                if vals:
                    sc[d] = statistics.mean(vals)
            if 0 not in sc:
                continue
            best = max(sc, key=sc.get)
            info[r] = (sc[0], best, sc[best])
            if best != 0 and sc[best] >= sc[0] + margin:
                flagged[r] = best
    return flagged, info


def spans_to_drop(flagged, order_es, edge=2):
    """Per chapter: [first flagged - 1, last flagged + 1], snapped to the chapter edge."""
    verses = collections.defaultdict(list)
    for r in order_es:
        b, c, v = ref_parts(r)
        verses[(b, c)].append(v)
    by_chapter = collections.defaultdict(list)
    for r in flagged:
        b, c, v = ref_parts(r)
        by_chapter[(b, c)].append(v)
    spans = {}
    for (b, c), vs in sorted(by_chapter.items(), key=lambda kv: order_es.index(f"{kv[0][0]}.{kv[0][1]}.1")):
        first, last = min(vs) - 1, max(vs) + 1
        lo, hi = min(verses[(b, c)]), max(verses[(b, c)])
        if first - lo <= edge:
            first = lo
        if hi - last <= edge:
            last = hi
        offsets = collections.Counter(flagged[f"{b}.{c}.{v}"] for v in vs)
        spans[(b, c)] = (max(first, lo), min(last, hi), len(vs), offsets.most_common(1)[0][0])
    return spans


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def split_of(ref):
    h = int(hashlib.sha1((SPLIT_SALT + ref).encode("utf-8")).hexdigest()[:8], 16) % SPLIT_MOD
    if h < DEV_BELOW:
        return "dev"
    if h < TEST_BELOW:
        return "test"
    return "train"


def atomic_write_bytes(path, data):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def gz_lines(lines):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as g:
        g.write("".join(line + "\n" for line in lines).encode("utf-8"))
    return buf.getvalue()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/corpora/bible", help="output directory")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    mgr = Sword.SWMgr()
    order_es, raw_es, mod_es = read_module(mgr, ES_MODULE)
    order_en, raw_en, mod_en = read_module(mgr, EN_MODULE)
    info_es, info_en = module_info(mod_es), module_info(mod_en)
    print(f"{ES_MODULE}: {len(order_es)} verse slots; {EN_MODULE}: {len(order_en)} verse slots")

    stats_es, stats_en = collections.Counter(), collections.Counter()
    es = clean_module(raw_es, stats_es)
    en = clean_module(raw_en, stats_en)
    for name, st in ((ES_MODULE, stats_es), (EN_MODULE, stats_en)):
        for k, v in sorted(st.items()):
            print(f"  {name}: {k}: {v}")
    glue = {}
    for name, raw, clean in ((ES_MODULE, raw_es, es), (EN_MODULE, raw_en, en)):
        fixed, camel = glue_diagnostics(raw, clean)
        glue[name] = (fixed, camel)
        print(f"  {name}: tokens naive tag stripping would glue: {fixed}; residual lower-Upper tokens: "
              f"{sum(camel.values())} {dict(camel.most_common(10))}")

    drops = collections.Counter()
    # references of the Spanish (KJV) canon that have text on at least one side
    common = [r for r in order_es if es.get(r) or en.get(r)]
    one_sided = [r for r in common if not (es.get(r) and en.get(r))]
    drops["empty on one side (verse missing in that module)"] = len(one_sided)
    print("one-sided references:", " ".join(one_sided))
    both = [r for r in common if es.get(r) and en.get(r)]
    print(f"references non-empty on both sides: {len(both)}")

    lex = build_lexicon([(es[r], en[r]) for r in both])
    flagged, _ = detect_misnumbered(lex, es, en, order_es, order_en)
    spans = spans_to_drop(flagged, order_es)
    print(f"versification check: {len(flagged)} verses flagged in {len(spans)} chapters")
    dropped_refs = set()
    span_lines = []
    for (b, c), (lo, hi, nflag, off) in spans.items():
        refs = [f"{b}.{c}.{v}" for v in range(lo, hi + 1) if f"{b}.{c}.{v}" in set(both)]
        dropped_refs.update(refs)
        line = f"{b} {c}:{lo}-{hi} ({nflag} verses flagged, typical offset {off:+d}; {len(refs)} pairs dropped)"
        span_lines.append(line)
        print("  " + line)
    drops["misnumbered verses (versification check)"] = len(dropped_refs)
    kept = [r for r in both if r not in dropped_refs]

    split = {"train": [], "dev": [], "test": []}
    for r in kept:
        split[split_of(r)].append(r)
    test_sents = {es[r] for r in split["test"]} | {en[r] for r in split["test"]}
    before = len(split["dev"])
    split["dev"] = [r for r in split["dev"] if es[r] not in test_sents and en[r] not in test_sents]
    drops["dev pairs sharing a sentence with test"] = before - len(split["dev"])
    held = test_sents | {es[r] for r in split["dev"]} | {en[r] for r in split["dev"]}
    before = len(split["train"])
    split["train"] = [r for r in split["train"] if es[r] not in held and en[r] not in held]
    drops["train pairs sharing a sentence with dev/test"] = before - len(split["train"])

    sizes = {}
    for name, refs in split.items():
        for lang, texts in (("es", es), ("en", en)):
            lines = [texts[r] for r in refs]
            assert all(line and "\n" not in line and "\r" not in line for line in lines)
            path = os.path.join(args.out, f"{name}.{lang}.gz")
            atomic_write_bytes(path, gz_lines(lines))
            sizes[f"{name}.{lang}.gz"] = os.path.getsize(path)
    for name, refs in split.items():
        print(f"{name}: {len(refs)} pairs")
    for k, v in drops.items():
        print(f"dropped: {k}: {v}")
    for k, v in sizes.items():
        print(f"  {k}: {v} bytes")

    readme = render_readme(info_es, info_en, split, sizes, drops, span_lines, glue,
                           stats_es, stats_en, len(both))
    atomic_write_bytes(os.path.join(args.out, "README.md"), readme.encode("utf-8"))
    return 0


def render_readme(info_es, info_en, split, sizes, drops, span_lines, glue, stats_es, stats_en, n_both):
    n_total = sum(len(v) for v in split.values())
    L = []
    L.append("# `bible` corpus: Spanish (Reina-Valera 1909) <-> English (World English Bible)\n")
    L.append("Verse-aligned parallel corpus, the suite's embedded default. Generated by "
             "`data/bible_extract.py` (see its docstring for every detail); do not edit by hand.\n")
    L.append("## Source\n")
    L.append("| side | SWORD module | Debian package | module version | module date | versification | licence |")
    L.append("|---|---|---|---|---|---|---|")
    for mod, info in ((ES_MODULE, info_es), (EN_MODULE, info_en)):
        L.append(f"| {'es' if mod == ES_MODULE else 'en'} | `{mod}` ({info['Description']}) | "
                 f"`{DEBIAN_PACKAGES[mod]}` | {info['Version']} | {info['SwordVersionDate']} | "
                 f"{info['Versification']} | {info['DistributionLicense']} |")
    L.append("")
    L.append("Both texts are in the **public domain** (Reina-Valera 1909: \"Dominio Público\"; "
             "WEB: dedicated to the public domain by its translators -- \"World English Bible\" is a "
             "trademark, so a modified text must not be called by that name; this corpus is a "
             "derived, normalised extract).\n")
    L.append("## Files\n")
    L.append("`{train,dev,test}.{es,en}.gz`: UTF-8, one verse per line, line *i* of `.es` is the "
             "translation of line *i* of `.en`; gzip with mtime 0 (byte-reproducible). Original "
             "casing and punctuation are kept (RV1909 writes the first word of a chapter in "
             "capitals, e.g. `EN el principio`; the 1909 orthography uses `á` for the preposition "
             "`a`); no tokenisation; Unicode NFC; no empty lines.\n")
    L.append("| split | pairs | es.gz bytes | en.gz bytes |")
    L.append("|---|---|---|---|")
    for name in ("train", "dev", "test"):
        L.append(f"| {name} | {len(split[name])} | {sizes[name + '.es.gz']} | {sizes[name + '.en.gz']} |")
    L.append(f"| total | {n_total} | | |\n")
    L.append("## Split rule\n")
    L.append(f"`h = int(sha1(\"{SPLIT_SALT}\" + ref).hexdigest()[:8], 16) % {SPLIT_MOD}` with the OSIS "
             f"reference (e.g. `Gen.1.1`); `h < {DEV_BELOW}` -> dev, `{DEV_BELOW} <= h < {TEST_BELOW}` "
             "-> test, else train. Afterwards every train pair whose Spanish or English side equals a "
             "dev or test sentence is removed, and every dev pair sharing a sentence with test. "
             "All splits are in canonical (book, chapter, verse) order.\n")
    L.append("## What was dropped\n")
    L.append(f"{n_both} references are non-empty on both sides after cleaning.\n")
    L.append("| reason | pairs |")
    L.append("|---|---|")
    for k, v in drops.items():
        L.append(f"| {k} | {v} |")
    L.append("")
    L.append("Not counted above: the WEB deuterocanonical books (no Spanish counterpart), and the WEB "
             "footnotes, cross-references, section/speaker headings and the glossary appended to "
             "Rev 22:21, which are removed from the text.\n")
    L.append("### Misnumbered chapters\n")
    L.append("RV1909 declares KJV versification but some chapters follow Spanish verse numbering, so "
             "same-reference pairs are not translations of each other. They are found automatically: "
             "a word-translation lexicon (Dice coefficient) is estimated from all same-reference pairs; "
             "a verse is flagged when, averaged over a 3-verse window, pairing it with the English "
             "verse at some offset in -6..+6 (within the book) gives a translation-overlap score at "
             "least 0.25 higher than offset 0. In each chapter the span of flagged verses (widened by "
             "one verse, snapped to the chapter edge when within two verses) is dropped:\n")
    L.extend(f"- {s}" for s in span_lines)
    L.append("")
    L.append("## Glued words\n")
    L.append("In the OSIS source the boundary between two words is often only an element boundary "
             "(WEB: `God</w><note>...</note><w>created`; RV1909: `<w>primer</w><transChange>día"
             "</transChange><w>de</w>`), so naive tag stripping glues words (\"Godcreated\"). The "
             "extractor turns removed block elements into spaces (unless punctuation follows) and "
             "puts a space between inline elements that touch inside letters, except for Spanish "
             "enclitic pronouns marked the same way (`Júrame<transChange>lo</transChange>` -> "
             "`Júramelo`).\n")
    L.append("| module | tokens naive stripping would glue (split here) | residual lowerUpper tokens |")
    L.append("|---|---|---|")
    for mod in (ES_MODULE, EN_MODULE):
        fixed, camel = glue[mod]
        L.append(f"| `{mod}` | {fixed} | {sum(camel.values())} |")
    L.append("")
    for mod, st in ((ES_MODULE, stats_es), (EN_MODULE, stats_en)):
        L.append(f"Boundary decisions in `{mod}`: " +
                 "; ".join(f"{k}: {v}" for k, v in sorted(st.items())) + ".\n")
    L.append("## Re-generating\n")
    L.append("```\napt-get install sword-text-sparv sword-text-web python3-sword\n"
             "python3 data/bible_extract.py --out data/corpora/bible\n```\n")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
