"""Extract the bible corpus' out-of-domain test set: software messages from the Spanish GNU gettext
catalogues that Debian installs (English msgid → Spanish msgstr), for Koehn & Knowles' (2017)
domain-mismatch challenge — their "IT" domain, as far from the bible as free text gets.

    python -m data.ood_extract [--locale-dir /usr/share/locale/es/LC_MESSAGES] [--out data/corpora/bible]

writes ``test-software.es.gz`` / ``test-software.en.gz`` (one message a line, es source, en
reference) and ``test-software.sources.tsv`` (package, version, licence, messages kept), read by
the corpus layer as the optional extra test set ``software``. The committed files were made on
Debian 12 (bookworm) from the packages listed in the TSV; re-running on another machine gives another set.

What is kept: single-line messages of 4-30 words on the English side, with a translation, that are
not format strings (``%s``, ``%1$d``, ``{0}``, ``%(name)s``), hold no markup (``<b>``), no
accelerator (``_File``, ``&Open``), no control characters, no URLs or paths, no ``--options``,
and whose translation is not the English text itself; duplicates (the same English message from
several packages) are kept once; plural forms and context-qualified entries are skipped. At most
``--max`` messages (a seeded sample, in package order).
"""
from __future__ import annotations

import argparse
import gettext
import gzip
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from data.io import HelpFormatter, UserError, atomic_write

FORMAT_RE = re.compile(r"%(\d+\$)?[-+ #0']*\d*(\.\d+)?[hlLqjzt]*[diouxXeEfFgGcsSpn%]|%\([a-z_]+\)|\{[^}]*\}|\$\{?\w+")
MARKUP_RE = re.compile(r"<[/a-zA-Z][^>]*>|&[a-z]+;")
ACCEL_RE = re.compile(r"(^|\s)[_&]\w|\w_\w")
JUNK_RE = re.compile(r"https?://|www\.|/\w+/|\\|--\w|\w+\.\w{2,4}\b|[\x00-\x1f]|\|")


def keep(en: str, es: str) -> bool:
    """Is (msgid, msgstr) a clean single-sentence message pair? (See the module docstring.)"""
    if not en or not es or "\n" in en or "\n" in es or en.strip() == es.strip():
        return False
    for text in (en, es):
        if FORMAT_RE.search(text) or MARKUP_RE.search(text) or ACCEL_RE.search(text) or JUNK_RE.search(text):
            return False
    n = len(en.split())
    return 4 <= n <= 30 and 0.5 <= len(es.split()) / n <= 2.5


def package_of(path: Path) -> tuple[str, str, str]:
    """(package, version, licence) of the Debian package that installed ``path`` (``?`` if unknown)."""
    try:
        pkg = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True, check=True).stdout.split(":")[0]
        ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return path.stem, "?", "?"
    lic = "?"
    copyright_file = Path("/usr/share/doc") / pkg / "copyright"
    if copyright_file.is_file():
        m = re.search(r"^License:\s*(\S.*)$", copyright_file.read_text(errors="replace"), re.M)
        lic = m.group(1).strip() if m else "see /usr/share/doc/" + pkg + "/copyright"
    return pkg, ver, lic


def extract(mo_files: Sequence[Path], max_pairs: int, seed: int = 1234) -> tuple[list[tuple[str, str]], list[dict]]:
    seen: set[str] = set()
    pairs: list[tuple[str, str, str]] = []
    sources = []
    for mo in sorted(mo_files):
        try:
            with open(mo, "rb") as fh:
                catalog = gettext.GNUTranslations(fh)._catalog
        except (OSError, gettext.error) as exc:
            print(f"note: {mo}: skipped ({exc})", file=sys.stderr)
            continue
        kept = 0
        for en, es in catalog.items():
            if not isinstance(en, str) or not isinstance(es, str) or "\x04" in en:  # plural or msgctxt
                continue
            en, es = " ".join(en.split()), " ".join(es.split())
            if en.lower() in seen or not keep(en, es):
                continue
            seen.add(en.lower())
            pairs.append((mo.stem, es, en))
            kept += 1
        if kept:
            pkg, ver, lic = package_of(mo)
            sources.append({"catalogue": mo.name, "package": pkg, "version": ver, "licence": lic, "messages": kept})
    if len(pairs) > max_pairs:
        keep_idx = sorted(random.Random(seed).sample(range(len(pairs)), max_pairs))
        pairs = [pairs[i] for i in keep_idx]
    counts: dict[str, int] = {}
    for cat, _, _ in pairs:
        counts[cat] = counts.get(cat, 0) + 1
    sources = [dict(s, kept=counts.get(Path(s["catalogue"]).stem, 0)) for s in sources]
    return [(es, en) for _, es, en in pairs], sources


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.ood_extract", description=__doc__, formatter_class=HelpFormatter)
    ap.add_argument("--locale-dir", default="/usr/share/locale/es/LC_MESSAGES", help="the Spanish .mo catalogues")
    ap.add_argument("--out", default=str(Path(__file__).parent / "corpora" / "bible"), help="output folder")
    ap.add_argument("--max", type=int, default=1000, help="messages at most (a seeded sample)")
    args = ap.parse_args(argv)
    mos = list(Path(args.locale_dir).glob("*.mo"))
    if not mos:
        raise UserError(f"{args.locale_dir}: no .mo catalogues")
    pairs, sources = extract(mos, args.max)
    if not pairs:
        raise UserError(f"{args.locale_dir}: no message survived the filters")
    out = Path(args.out)
    for lang, k in (("es", 0), ("en", 1)):
        with atomic_write(out / f"test-software.{lang}.gz", "wb") as fh:
            fh.write(gzip.compress("".join(p[k] + "\n" for p in pairs).encode("utf-8"), mtime=0))
    with atomic_write(out / "test-software.sources.tsv") as fh:
        fh.write("catalogue\tpackage\tversion\tlicence\tmessages_clean\tmessages_kept\n")
        for s in sources:
            fh.write(f"{s['catalogue']}\t{s['package']}\t{s['version']}\t{s['licence']}\t{s['messages']}\t{s['kept']}\n")
    print(f"{out}: {len(pairs):,} message pairs from {sum(1 for s in sources if s['kept'])} catalogues", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from data.io import run_cli
    run_cli(main)
