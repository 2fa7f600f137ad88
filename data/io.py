"""Shared I/O: validated line reading, atomic writes, hashes, progress bars, clean CLI errors.

Every command of the suite reads its text through :func:`read_lines` (UTF-8 checked line by line,
``.gz`` transparently) and writes every artifact through :func:`atomic_write` (temp file in the
same directory, then ``os.replace``), so a crash never leaves a half-written file behind.
Problems with the user's input raise :class:`UserError`; :func:`run_cli` prints them as one line
(``error: FILE:LINE: problem``) and exits with status 2, without a traceback.
"""
from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import importlib
import io
import argparse
import json
import os
import signal
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from tqdm import tqdm

# no tqdm monitor thread: our workers are forked (the decoder, the phrase shards), and a fork while that
# thread holds tqdm's lock would deadlock the child's first bar
tqdm.monitor_interval = 0

#: Longest line (in characters) accepted anywhere; longer ones are "absurd" input.
MAX_LINE_CHARS = 100_000


class UserError(Exception):
    """A problem with the user's input or settings, reported as one line and exit status 2."""


def plain_doc(text: str) -> str:
    """A module docstring for ``--help``: reST markup (``x``, :mod:`x`, :data:`x`) as plain text."""
    import re  # only here
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"``([^`]+)``", r"\1", text)


#: The suite's version (pyproject.toml's); every entry point prints it for --version.
VERSION = "0.1.0"


def add_alias(parser, old: str, dest: str, **kw) -> None:
    """An old spelling of an option, kept for one release: parsed into ``dest``, hidden from --help
    (the one vocabulary across the commands: --align-model, --shards, --jobs, --seed, --threads)."""
    parser.add_argument(old, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kw)


def cpu_kind() -> str:
    """The CPU's vector kind, as the runs record it: ``AMX``, ``AVX-512`` (with BF16 if it has it),
    ``AVX2`` or ``other`` (from /proc/cpuinfo; NMT's last bits differ between kinds, PBSMT's do not)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            flags = set()
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return "other"
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512f" in flags:
        return "AVX-512" + (" BF16" if "avx512_bf16" in flags else "")
    return "AVX2" if "avx2" in flags else "other"


def profile_default(value, profile: str, what: str = "") -> str:
    """How a default that comes from a profile is printed: ``default: gibbs (profile quick)``."""
    shown = "none" if value is None else value
    return f"default: {shown} (profile {profile}{', ' + what if what else ''})"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` that shows each option's default once: appended as "(default: X)" unless the help
    text already speaks of its default, or there is none to show (``None``, ``False``)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


@contextlib.contextmanager
def run_folder_lock(directory: str | os.PathLike, what: str = "train"):
    """Hold ``<parent>/.<name>.lock`` (an advisory ``flock``; beside the folder, so that a re-run that
    changes nothing leaves the folder untouched) for the block: a run folder has one writer.

    A second writer gets one line naming the holder's pid and stops (exit 2) instead of mixing its
    files with the first one's. The lock dies with its process (even ``kill -9``), so a stale
    ``.lock`` file never blocks a re-run.
    """
    import fcntl  # POSIX only; elsewhere the folder is not locked

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        fh = open(directory.parent / f".{directory.name}.lock", "a+", encoding="utf-8")
    except PermissionError:
        raise UserError(f"{directory}: permission denied (cannot write the run folder)") from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise UserError(f"{directory}: already being written by {holder}; wait for it to finish or stop it") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} ({what})")
        fh.flush()
        yield
    finally:
        fh.close()


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (even by kill -9): a trainer started
    by ``make report`` or a decoder worker never runs on alone (Linux ``prctl(PR_SET_PDEATHSIG)``;
    elsewhere nothing). Call it in the child (a ``preexec_fn`` or a pool initializer)."""
    try:
        import ctypes  # only for this Linux call
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main process like Ctrl-C, so that every ``finally`` (temp files of
    :func:`atomic_write`, staging folders, children) runs before the process ends."""


def _on_sigterm(signum, frame):
    if os.getpid() != _MAIN_PID[0]:   # a forked worker: die as the default action would
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


_MAIN_PID = [0]


def check_folder(path: str | os.PathLike, what: str) -> Path:
    """:class:`UserError` when ``path`` exists but is not a folder (e.g. ``MT_RUNS_DIR`` set to a file)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path}: is a file, not a folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{what} {path}: {parent} is a file, not a folder")
            break
    return path


def _proc_stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, command name, start time) of ``pid`` from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[1]), name, rest[19]


def stop_with_make() -> None:
    """SIGTERM this process when the ``make`` that started it (its nearest ``make`` ancestor; else its
    parent) dies, even by kill -9: ``kill <make's pid>`` must stop ``make report``, whose command runs
    under ``sh -c`` (so the kernel's parent-death signal alone, :func:`die_with_parent`, is not
    enough). A daemon thread polls /proc once a second (Linux; elsewhere the parent-death signal only)."""
    die_with_parent()
    chain, pid = [], os.getppid()
    while pid > 1 and len(chain) < 8:
        st = _proc_stat(pid)
        if st is None:
            break
        chain.append((pid, st[2]))
        if st[1] == "make":
            break
        pid = st[0]
    if not chain or not chain[-1] or _proc_stat(chain[-1][0]) is None:
        return
    if _proc_stat(chain[-1][0])[1] != "make":
        chain = chain[:1]                      # no make above us: watch the parent only
    import threading  # only for this watcher

    def watch():
        while True:
            for p, start in chain:
                st = _proc_stat(p)
                if st is None or st[2] != start or st[0] == 0:
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
            time.sleep(1.0)

    threading.Thread(target=watch, name="stop-with-make", daemon=True).start()


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run ``main(argv)``; turn :class:`UserError` into ``error: …`` on stderr and exit 2. SIGTERM ends
    it like Ctrl-C (exit 143), cleaning up on the way."""
    _MAIN_PID[0] = os.getpid()
    with contextlib.suppress(ValueError):   # not the main thread: leave signals alone
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = main(argv)
    except Terminated:
        print("error: terminated (SIGTERM)", file=sys.stderr)
        sys.exit(143)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # e.g. `python -m smt align … | head`
        sys.exit(0)
    except PermissionError as exc:  # a read-only runs/report folder, an unreadable file
        print(f"error: {exc.filename or exc}: permission denied", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):  # disk full, read-only file system
            print(f"error: {exc.filename or 'writing an output'}: {exc.strerror}", file=sys.stderr)
            sys.exit(2)
        if exc.errno == errno.ENOTDIR or isinstance(exc, (NotADirectoryError, IsADirectoryError, FileExistsError)):
            print(f"error: {exc.filename or exc}: {exc.strerror or exc}", file=sys.stderr)
            sys.exit(2)
        raise
    sys.exit(code or 0)


def dispatch(package: str, commands: dict[str, tuple[str, str]], argv: Sequence[str] | None = None) -> int:
    """``python -m <package> <command> …``: call ``<package>.<module>.main(rest)`` for the command.

    ``commands`` maps a command to ``(module, one-line description)`` (a dotted module name is taken
    as absolute, e.g. ``evaluation.score``); no or an unknown command prints the list (exit 0 for
    ``--help``, else 2).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--version":
        print(f"python -m {package} (mt-suite) {VERSION}")
        return 0
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown command {argv[0]!r}", file=sys.stderr)
        print(f"usage: python -m {package} {{{'|'.join(commands)}}} [--help] | --version\n")
        for name, (_, text) in commands.items():
            print(f"  {name:12s} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, _ = commands[argv[0]]
    return importlib.import_module(module if "." in module else f"{package}.{module}").main(argv[1:])


#: What reading a damaged or unreadable (possibly gzip) file raises; callers turn it into one line.
READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error)


#: The one length policy: a sentence to translate, align or score may hold at most this many
#: tokens (after tokenisation). Longer dev/test/input sentences are refused with file:line (the
#: decoders' time and memory grow with length: a 5,000-word line hung the stack decoder); training
#: pairs are cleaned to 80 tokens by ``clean-corpus-n`` (counted), NMT training to ``max_len``.
MAX_TOKENS = 250
#: The unknown-word token, one spelling for every stage: NMT's vocabulary entry and output, KenLM's
#: reserved word, what the UNK rates of the report count.
UNK_WORD = "<unk>"


def check_tokens(path: str | os.PathLike, sents: Sequence[Sequence[str]], limit: int = MAX_TOKENS) -> None:
    """:class:`UserError` ``path:line`` at the first sentence longer than ``limit`` tokens."""
    for n, s in enumerate(sents, 1):
        if len(s) > limit:
            raise UserError(f"{path}:{n}: sentence of {len(s):,} tokens (limit {limit:,}; split it — decoding time "
                            f"and memory grow with length)")


def open_binary(path: str | os.PathLike):
    """The one gzip-aware open: ``path`` read as bytes, decompressed when it ends in ``.gz``.
    :class:`UserError` for a missing file, a directory or no permission."""
    path = Path(path)
    try:
        if path.is_dir():
            raise UserError(f"{path}: is a directory, not a file")
        if not path.is_file():
            raise UserError(f"{path}: no such file")
        return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None


def read_error(path: str | os.PathLike, exc: BaseException) -> UserError:
    """One line for an exception of :data:`READ_ERRORS` while reading ``path``."""
    path = Path(path)
    if isinstance(exc, PermissionError):
        return UserError(f"{path}: permission denied")
    hint = " — a damaged gzip file?" if path.suffix == ".gz" else ""
    return UserError(f"{path}: cannot read ({exc}){hint}")


def read_lines(path: str | os.PathLike, *, allow_empty_lines: bool = True,
               allow_empty_file: bool = False, max_chars: int = MAX_LINE_CHARS) -> list[str]:
    """Read a UTF-8 text file (optionally gzip) into a list of lines without their newline.

    Raises :class:`UserError` naming the file and the 1-based line for: a missing file, invalid
    UTF-8, an empty file (unless ``allow_empty_file``), an empty line (unless
    ``allow_empty_lines``) or a line longer than ``max_chars`` characters.
    """
    lines = list(iter_lines(path, allow_empty_lines=allow_empty_lines, max_chars=max_chars))
    if not lines and not allow_empty_file:
        raise UserError(f"{Path(path)}: empty file")
    return lines


def iter_lines(path: str | os.PathLike, *, allow_empty_lines: bool = True,
               max_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """:func:`read_lines` one line at a time (for files too big to hold), with the same checks
    except the empty-file one."""
    path = Path(path)
    try:
        with open_binary(path) as fh:
            for n, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise UserError(f"{path}:{n}: invalid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})") from None
                if n == 1 and line.startswith("\ufeff"):  # a UTF-8 byte-order mark is not text
                    line = line[1:]
                    print(f"note: {path}: UTF-8 byte-order mark at the start removed", file=sys.stderr)
                line = line.rstrip("\n").rstrip("\r")
                if len(line) > max_chars:
                    raise UserError(f"{path}:{n}: line of {len(line):,} characters (limit {max_chars:,})")
                if not allow_empty_lines and not line.strip():
                    raise UserError(f"{path}:{n}: empty line")
                yield line
    except READ_ERRORS as exc:
        raise read_error(path, exc) from None


def check_line_counts(a_name, a: Sequence, b_name, b: Sequence, why: str = ": the sides must be line-aligned") -> None:
    """The one line-count check of two line-aligned texts: :class:`UserError` naming both when they differ."""
    if len(a) != len(b):
        raise UserError(f"{a_name} has {len(a):,} lines but {b_name} has {len(b):,}{why}")


def read_parallel(src: str | os.PathLike, tgt: str | os.PathLike, **kw) -> tuple[list[str], list[str]]:
    """Read two sentence-aligned files; their line counts must match (else :class:`UserError`)."""
    a, b = read_lines(src, **kw), read_lines(tgt, **kw)
    check_line_counts(src, a, tgt, b)
    return a, b


def read_tokenized(path: str | os.PathLike, **kw) -> list[list[str]]:
    """Read a whitespace-tokenised file into lists of tokens."""
    return [line.split() for line in read_lines(path, **kw)]


def umask() -> int:
    """The process's umask (read without changing it: os.umask can only be read by setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[io.IOBase]:
    """Open a temp file next to ``path``; on success rename it over ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if "b" in mode:
            fh = os.fdopen(fd, mode)
        else:
            fh = os.fdopen(fd, mode, encoding=encoding, newline="\n")
        with fh:
            yield fh
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp creates 0600; give artifacts the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) and not exc.filename:
            exc.filename = str(path)     # "error: <file>: No space left on device", not ": No space …"
        if isinstance(exc, RuntimeError) and "file write failed" in str(exc):   # torch.save on a full disk
            raise OSError(errno.ENOSPC, "No space left on device (cannot write it)", str(path)) from None
        raise


def check_output_path(path: str | os.PathLike, flag: str = "--output") -> Path:
    """:class:`UserError` before any work when ``path`` cannot be written as a file: a directory, or a
    path under something that is not a directory (checked before decoding, not after it)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a directory; give a file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{flag} {path}: {parent} is a file, not a folder")
            break
    return path


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> None:
    """Atomically write one string per line (``.gz`` paths are gzip-compressed, mtime 0)."""
    path = Path(path)
    if path.suffix == ".gz":
        with atomic_write(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            for line in lines:
                gz.write(line.encode("utf-8") + b"\n")
        return
    with atomic_write(path) as fh:
        for line in lines:
            fh.write(line + "\n")


def write_json(path: str | os.PathLike, obj) -> None:
    """Atomically write pretty, key-sorted JSON."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        fh.write("\n")


def read_json(path: str | os.PathLike):
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (as stored, i.e. of the .gz for gzip files)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise read_error(path, exc) from None
    return h.hexdigest()


def sha256_text(lines: Iterable[str]) -> str:
    """Hex SHA-256 of lines joined by newlines (independent of compression)."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


_QUIET = [0]   # depth of no_progress() blocks


@contextlib.contextmanager
def no_progress():
    """No progress bars inside the block (as with ``MT_NO_PROGRESS=1``)."""
    _QUIET[0] += 1
    try:
        yield
    finally:
        _QUIET[0] -= 1


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "sent", **kw) -> tqdm:
    """A tqdm bar on stderr showing ``unit/s``; quiet when ``MT_NO_PROGRESS=1`` or inside :func:`no_progress`."""
    disable = os.environ.get("MT_NO_PROGRESS") == "1" or _QUIET[0] > 0
    return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True,
                disable=disable, file=sys.stderr, mininterval=0.5, **kw)
