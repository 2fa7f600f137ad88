"""Faults and bad input (issue: reliability): one clear line, exit status 2, no traceback, no silent damage."""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys

import pytest

from data.io import UserError, read_lines
from tests.helpers import ROOT


def cli(*args, env=None, expect=2) -> str:
    r = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "MT_NO_PROGRESS": "1", **(env or {})}, timeout=300)
    assert r.returncode == expect, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    return r.stderr


def corrupt_gzip(path, text: str) -> None:
    """A gzip file whose deflate stream has bytes flipped in the middle (not merely truncated)."""
    raw = bytearray(gzip.compress(text.encode("utf-8")))
    mid = len(raw) // 2
    for i in range(mid, mid + 40):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))


def test_corrupt_gzip_is_one_line(tmp_path):
    bad = tmp_path / "hyp.txt.gz"
    corrupt_gzip(bad, "".join(f"sentence number {i} of a longer text\n" for i in range(5000)))
    with pytest.raises(UserError, match="hyp.txt.gz: cannot read .*damaged gzip"):
        read_lines(bad)
    ref = tmp_path / "ref.txt"
    ref.write_text("a b\n")
    err = cli("compare", "score", "--hyp", str(bad), "--ref", str(ref))
    assert err.strip().count("\n") == 0 and "hyp.txt.gz" in err


def test_byte_order_mark_is_stripped(tmp_path):
    text = "The cat sat on the mat .\nA second line here .\n"
    plain, bom = tmp_path / "a.txt", tmp_path / "b.txt"
    plain.write_text(text, encoding="utf-8")
    bom.write_bytes("\ufeff".encode("utf-8") + text.encode("utf-8"))
    assert read_lines(bom) == read_lines(plain)
    r = subprocess.run([sys.executable, "-m", "compare", "score", "--hyp", str(bom), "--ref", str(plain)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bleu"] == 100.0 and "byte-order mark" in r.stderr


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        read_lines(tmp_path)


def test_unreadable_file_is_one_line(tmp_path):
    f = tmp_path / "secret.txt"
    f.write_text("x\n")
    f.chmod(0)
    if os.geteuid() == 0:  # root reads anything: check as an unprivileged user instead
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                            "import sys; sys.path.insert(0, sys.argv[2]); from data.io import read_lines, UserError\n"
                            "try: read_lines(sys.argv[1])\nexcept UserError as e: print(e)", str(f), str(ROOT)],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 and "setpriv" in r.stderr:
            pytest.skip("setpriv is not available")
        assert "permission denied" in r.stdout, r.stdout + r.stderr
    else:
        with pytest.raises(UserError, match="permission denied"):
            read_lines(f)


def test_zero_update_budget_is_refused(tmp_path):
    err = cli("nmt", "train", "--corpus", "bible", "--max-steps", "0", env={"MT_RUNS_DIR": str(tmp_path)})
    assert "--max-steps must be positive" in err


def test_a_run_folder_has_one_writer(tmp_path):
    """A second trainer on a folder that is being written stops with one line naming the holder."""
    env = {**os.environ, "MT_RUNS_DIR": str(tmp_path / "runs"), "MT_BUILD_DIR": str(tmp_path / "build"),
           "MT_NO_PROGRESS": "1"}
    from tests.helpers import make_tiny_corpus
    corpus = make_tiny_corpus(tmp_path / "c", n_train=120, n_dev=10, n_test=10)
    args = [sys.executable, "-m", "nmt", "train", "--corpus", str(corpus), "--src", "de", "--tgt", "en",
            "--profile", "tiny", "--threads", "1", "--max-steps", "2000", "--epochs", "500", "--patience", "1000",
            "--eval-every", "1000"]
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = tmp_path / "runs" / "c" / "de-en" / ".rnnsearch.lock"
        import time
        for _ in range(600):
            if lock.is_file() and "pid" in lock.read_text():
                break
            time.sleep(0.1)
        r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert f"already being written by pid {first.pid} (nmt train)" in r.stderr
    finally:
        first.kill()
        first.wait()
    # the lock died with its holder (kill -9): the folder can be written again
    from data.io import run_folder_lock
    with run_folder_lock(lock.parent / "rnnsearch"):
        pass


def test_translate_refuses_a_shuffled_vocabulary(isolated, tiny_corpus):
    """A vocabulary file of the right size but other entries would give fluent nonsense: refused."""
    from data.io import write_lines
    from data.prepare import prepare
    from nmt import train
    assert train.main(["--corpus", str(tiny_corpus), "--src", "de", "--tgt", "en", "--profile", "tiny",
                       "--threads", "1", "--max-steps", "2", "--eval-every", "2", "--system", "v"]) == 0
    run = isolated / "runs" / "tiny" / "de-en" / "v"
    p = prepare(str(tiny_corpus), "de", "en", quiet=True)
    args = ("nmt", "translate", "--checkpoint", str(run / "best.pt"), "--input", str(p.file("test", "src")),
            "--output", str(isolated / "o.txt"), "--greedy", "--threads", "1")
    cli(*args, expect=0)
    entries = read_lines(run / "vocab.tgt.txt")
    write_lines(run / "vocab.tgt.txt", entries[:4] + entries[4:][::-1])
    err = cli(*args)
    assert "tgt vocabulary file has the right size but not the entries" in err


def test_two_corpus_directories_with_one_name_are_refused(isolated, tmp_path):
    from data.prepare import prepare
    from tests.helpers import make_committed_corpus
    a = make_committed_corpus(tmp_path / "A" / "corp", n_train=60, n_dev=10, n_test=10)
    b = make_committed_corpus(tmp_path / "B" / "corp", n_train=70, n_dev=10, n_test=10)
    prepare(str(a), "es", "en", quiet=True)
    with pytest.raises(UserError, match="prepared from .*A/corp, not .*B/corp"):
        prepare(str(b), "es", "en", quiet=True)
    assert prepare(str(a), "es", "en", quiet=True).manifest["counts"]["train"] > 0  # A still there


def test_failed_preparation_leaves_no_empty_build_folder(isolated, tmp_path):
    from data.prepare import build_root, prepare
    d = tmp_path / "broken"
    d.mkdir()
    for split in ("train", "dev", "test"):
        (d / f"{split}.de").write_text("ein satz\n")
        (d / f"{split}.en").write_text("a sentence\nextra line\n")
    with pytest.raises(UserError, match="line-aligned"):
        prepare(str(d), "de", "en", quiet=True)
    assert not (build_root() / "broken").exists()


def test_plain_and_gzip_split_is_ambiguous(tmp_path):
    from data.corpus import resolve
    from tests.helpers import make_committed_corpus
    d = make_committed_corpus(tmp_path / "amb", n_train=30, n_dev=5, n_test=5)
    src = next(d.glob("train.es*"))
    other = d / ("train.es" if src.suffix == ".gz" else "train.es.gz")
    other.write_bytes(gzip.compress(b"x\n") if other.suffix == ".gz" else b"x\n")
    with pytest.raises(UserError, match="both train.es and train.es.gz exist"):
        resolve(str(d), "es", "en")


def test_misspelt_corpus_says_unknown_corpus(tmp_path):
    err = cli("data", "prepare", "--corpus", "bibel", env={"MT_BUILD_DIR": str(tmp_path)})
    assert "corpus 'bibel': not a built-in corpus" in err


def test_one_length_policy_for_dev_test_and_inputs(isolated, tmp_path):
    """A 5,000-word dev sentence is refused at preparation with file:line, not accepted and then
    hanging a decoder; the translate/decode/align CLIs apply the same limit (data.io.MAX_TOKENS)."""
    from data.io import MAX_TOKENS, check_tokens
    from data.prepare import prepare
    from tests.helpers import make_committed_corpus
    d = make_committed_corpus(tmp_path / "longdev", n_train=40, n_dev=5, n_test=5)
    lines = (d / "dev.es").read_text().splitlines()
    lines[2] = " ".join(["palabra"] * 5000)
    (d / "dev.es").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"dev.es:3: sentence of 5,000 tokens \(limit 250"):
        prepare(str(d), "es", "en", quiet=True)
    check_tokens("x", [["a"] * MAX_TOKENS])
    with pytest.raises(UserError, match="x:2: sentence of 251 tokens"):
        check_tokens("x", [["a"], ["a"] * (MAX_TOKENS + 1)])


def test_read_only_run_folder_is_one_line():
    """A runs folder the user cannot write: one line, exit 2 (checked as an unprivileged user when root)."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.helpers import make_tiny_corpus
    base = Path(tempfile.mkdtemp(prefix="mt-ro-"))
    try:
        base.chmod(0o755)
        corpus = make_tiny_corpus(base / "c", n_train=40, n_dev=5, n_test=5)
        for f in corpus.iterdir():
            f.chmod(0o644)
        corpus.chmod(0o755)
        runs, build = base / "ro-runs", base / "build"
        runs.mkdir(mode=0o555)
        runs.chmod(0o555)
        build.mkdir()
        build.chmod(0o777)
        args = [sys.executable, "-m", "nmt", "train", "--corpus", str(corpus), "--src", "de", "--tgt", "en",
                "--profile", "tiny", "--threads", "1", "--max-steps", "2"]
        env = {**os.environ, "MT_RUNS_DIR": str(runs), "MT_BUILD_DIR": str(build), "MT_NO_PROGRESS": "1"}
        if os.geteuid() == 0:  # root writes anywhere: run as nobody
            args = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args]
        r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        if os.geteuid() == 0 and "setpriv" in r.stderr and r.returncode != 2:
            pytest.skip("setpriv is not available")
        assert r.returncode == 2, r.stderr[-2000:]
        assert "Traceback" not in r.stderr and "permission denied" in r.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_prepared_folder_has_the_umask_mode(isolated, tiny_corpus):
    from data.prepare import prepare
    old = os.umask(0o022)
    try:
        p = prepare(str(tiny_corpus), "de", "en", quiet=True)
    finally:
        os.umask(old)
    assert p.dir.stat().st_mode & 0o777 == 0o755
    modes = {f.name: f.stat().st_mode & 0o777 for f in p.dir.iterdir() if f.is_file()}
    assert modes and all(m == 0o644 for m in modes.values()), modes     # the truecasing models too


def test_children_die_with_a_killed_report(tmp_path):
    """kill -9 of `compare experiments` takes its trainer with it (no orphan left writing the run folder)."""
    import signal
    import time
    from tests.helpers import make_tiny_corpus
    corpus = make_tiny_corpus(tmp_path / "kc", n_train=120, n_dev=10, n_test=10)
    env = {**os.environ, "MT_RUNS_DIR": str(tmp_path / "runs"), "MT_BUILD_DIR": str(tmp_path / "build"),
           "MT_NO_PROGRESS": "1"}
    parent = subprocess.Popen([sys.executable, "-m", "compare", "experiments", "--corpus", str(corpus), "--src", "de",
                               "--tgt", "en", "--profile", "tiny", "--jobs", "1", "--no-estimate"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = None
    try:
        for _ in range(600):  # wait for the first trainer (smt train) to start
            out = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout.split()
            if out:
                child = int(out[0])
                break
            time.sleep(0.1)
        assert child is not None, "no child trainer started"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        for _ in range(100):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            try:
                if open(f"/proc/{child}/stat").read().split()[2] == "Z":  # exited, waiting to be reaped by init
                    break
            except FileNotFoundError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"child {child} still running after its parent was killed")
    finally:
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def test_replaced_nmt_model_is_not_taken_as_up_to_date(isolated, tiny_corpus, capsys):
    """scores.json records the size and SHA-256 of best.pt, test.hyp and the vocabularies: a model
    replaced after training (here by last.pt, a valid checkpoint) is trained again, not reused."""
    import shutil

    from nmt import train
    args = ["--corpus", str(tiny_corpus), "--src", "de", "--tgt", "en", "--profile", "tiny", "--threads", "1",
            "--max-steps", "4", "--eval-every", "2", "--system", "h"]
    assert train.main(args) == 0
    run = isolated / "runs" / "tiny" / "de-en" / "h"
    scores = json.loads((run / "scores.json").read_text())
    assert set(scores["artifacts"]) == {"best.pt", "test.hyp", "vocab.src.txt", "vocab.tgt.txt"}
    capsys.readouterr()
    assert train.main(args) == 0 and "up to date" in capsys.readouterr().out
    shutil.copy(run / "last.pt", run / "best.pt")
    assert train.main(args) == 0
    captured = capsys.readouterr()
    assert "best.pt changed since training" in captured.err and "up to date" not in captured.out
    assert json.loads((run / "scores.json").read_text())["artifacts"]["best.pt"] != {}


def test_msd_reordering_on_a_corpus_without_swaps(isolated, tmp_path):
    """Issue 29 item 2: a corpus with identical sides has no swap (nor discontinuous) orientation;
    the msd table must still hold only positive probabilities, and the pipeline must read back
    what it wrote (it used to write 0 and refuse it on every re-run)."""
    import numpy as np

    from data.moses import read_reordering_table
    from smt.reordering import orientation_prior, smoothed_probabilities
    assert np.all(orientation_prior([5, 0, 0]) > 0)
    np.testing.assert_allclose(orientation_prior([2, 1, 1]), [0.5, 0.25, 0.25])   # all seen: unchanged
    assert np.all(smoothed_probabilities([[3, 0, 0, 3, 0, 0]]) > 0)
    d = tmp_path / "mono"
    d.mkdir()
    for split in ("train", "dev", "test"):
        for lang in ("es", "en"):
            (d / f"{split}.{lang}").write_text("el perro come .\nla casa es grande .\nun gato duerme .\n")
    args = ("smt", "train", "--corpus", str(d), "--src", "es", "--tgt", "en", "--profile", "tiny",
            "--reordering", "msd-bidirectional-fe", "--processes", "1")
    cli(*args, expect=0)
    run = isolated / "runs" / "mono" / "es-en" / "pbsmt"
    table = read_reordering_table(run / "reordering-table.gz")
    assert table and all(np.all(p > 0) for p in table.values())
    assert json.loads((run / "scores.json").read_text())["bleu_lc"] == 100.0
    cli(*args, expect=0)   # the re-run reuses it


def _tiny_pbsmt(tmp_path):
    """A distance-only PBSMT system of a 3-line corpus (seconds): its run folder and the corpus."""
    d = tmp_path / "three"
    d.mkdir()
    for split in ("train", "dev", "test"):
        (d / f"{split}.es").write_text("el perro come .\nla casa es grande .\nun gato duerme .\n")
        (d / f"{split}.en").write_text("the dog eats .\nthe house is big .\na cat sleeps .\n")
    cli("smt", "train", "--corpus", str(d), "--src", "es", "--tgt", "en", "--profile", "tiny", "--processes", "1",
        "--no-tune", env={"MT_RUNS_DIR": str(tmp_path / "runs"), "MT_BUILD_DIR": str(tmp_path / "build")}, expect=0)
    return tmp_path / "runs" / "three" / "es-en" / "pbsmt", d


def test_decode_refuses_what_is_not_a_phrase_table(tmp_path):
    """Issue 29 items 5-7: lm.binary, weights.json or a table with '|||' for ' ||| ' as --phrase-table,
    NaN in weights.json, --output a directory or under a file: one line naming the file, before decoding."""
    run, d = _tiny_pbsmt(tmp_path)
    base = ("smt", "decode", "--lm", str(run / "lm.binary"), "--input", str(d / "test.es"), "--processes", "1")
    out = ("--output", str(tmp_path / "o.txt"))
    for bad in (run / "lm.binary", run / "weights.json"):
        assert f"{bad}:1: no ' ||| ' separator" in cli(*base, "--phrase-table", str(bad), *out)
    broken = tmp_path / "broken.txt"
    lines = gzip.decompress((run / "phrase-table.gz").read_bytes()).decode().splitlines()
    broken.write_text("\n".join(lines[:-1] + [lines[-1].replace(" ||| ", "|||", 1)]) + "\n")
    assert f"{broken}:{len(lines)}: '|||' without spaces" in cli(*base, "--phrase-table", str(broken), *out)
    table = ("--phrase-table", str(run / "phrase-table.gz"))
    w = tmp_path / "w.json"
    w.write_text('{"weights": [NaN, 1, 1, 1, 1, 1, 1, 1]}')
    assert f"{w}: weights must be finite numbers; tm_fe is not" in cli(*base, *table, *out, "--weights", str(w))
    assert "is a directory" in cli(*base, *table, "--output", str(tmp_path))
    assert "is a file, not a folder" in cli(*base, *table, "--output", str(d / "test.es" / "x"))
    assert not (tmp_path / "o.txt").exists()
    cli(*base, *table, *out, expect=0)
    assert len((tmp_path / "o.txt").read_text().splitlines()) == 3


def test_translate_bounds_beam_and_length_penalty(tmp_path):
    """Issue 29 item 8: --beam 100000 and --length-penalty nan/inf are refused before the model loads."""
    src = tmp_path / "in.txt"
    src.write_text("a b\n")
    ck = tmp_path / "x.pt"
    ck.write_bytes(b"x")
    base = ("nmt", "translate", "--checkpoint", str(ck), "--input", str(src), "--output", str(tmp_path / "o"))
    assert "--beam must be 1-1,000" in cli(*base, "--beam", "100000")
    for lp in ("nan", "inf", "-1"):
        assert "--length-penalty must be a number in [0, 5]" in cli(*base, "--length-penalty", lp)
    assert "is a directory" in cli(*base[:-1], str(tmp_path))


def test_study_verifies_what_it_reuses(tmp_path):
    """Issue 29 items 1 and 4: a hand-edited test.hyp, a damaged scores.json (PBSMT) and a zero-byte
    best.pt (NMT) are not "up to date": verify_outputs says why and the trainers redo what is damaged."""
    from compare.experiments import verify_outputs
    run, d = _tiny_pbsmt(tmp_path)
    env = {"MT_RUNS_DIR": str(tmp_path / "runs"), "MT_BUILD_DIR": str(tmp_path / "build")}
    assert verify_outputs(run) is None
    good = (run / "test.hyp").read_text()
    (run / "test.hyp").write_text("the dog eats .\n" * 3)
    assert "test.hyp changed" in verify_outputs(run)
    train = ("smt", "train", "--corpus", str(d), "--src", "es", "--tgt", "en", "--profile", "tiny", "--processes", "1",
             "--no-tune")
    cli(*train, env=env, expect=0)
    assert (run / "test.hyp").read_text() == good and verify_outputs(run) is None
    (run / "scores.json").write_text("{ damaged")
    assert "not valid JSON" in verify_outputs(run)
    cli(*train, env=env, expect=0)
    assert json.loads((run / "scores.json").read_text())["bleu"] > 0 and verify_outputs(run) is None
    nmt = ("nmt", "train", "--corpus", str(d), "--src", "es", "--tgt", "en", "--profile", "tiny", "--threads", "1",
           "--max-steps", "2", "--eval-every", "2")
    cli(*nmt, env=env, expect=0)
    nrun = run.parent / "rnnsearch"
    assert verify_outputs(nrun) is None
    (nrun / "best.pt").write_bytes(b"")
    assert "best.pt changed" in verify_outputs(nrun)
    err = cli(*nmt, env=env, expect=0)
    assert "best.pt changed since training" in err and verify_outputs(nrun) is None


def test_paths_and_language_codes_are_one_line(tmp_path):
    """Issue 29 item 6: MT_RUNS_DIR / MT_BUILD_DIR / MT_REPORT_DIR pointing at a file, and a language
    code that is a path, are one line each (no traceback, nothing created outside build/)."""
    f = tmp_path / "afile"
    f.write_text("x")
    args = ("compare", "report", "--corpus", "bible", "--profile", "tiny", "--no-estimate")
    for var in ("MT_RUNS_DIR", "MT_BUILD_DIR", "MT_REPORT_DIR"):
        env = {"MT_RUNS_DIR": str(tmp_path / "r"), "MT_BUILD_DIR": str(tmp_path / "b"),
               "MT_REPORT_DIR": str(tmp_path / "p"), var: str(f)}
        assert f"{f}: is a file, not a folder" in cli(*args, env=env)
    err = cli("data", "prepare", "--corpus", "bible", "--src", "x/../../escaped/es",
              env={"MT_BUILD_DIR": str(tmp_path / "b" / "deep")})
    assert "not a language code" in err and not (tmp_path / "escaped").exists()


def test_sigterm_cleans_up_and_disk_full_names_the_file(tmp_path):
    """Issue 29 items 7-8: SIGTERM runs the clean-up (atomic_write leaves no .tmp, exit 143); a full
    disk names the file being written (a real small tmpfs as root, else a simulated ENOSPC)."""
    import signal
    import time
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from data.io import atomic_write, run_cli\n"
            "def main(argv):\n    with atomic_write(sys.argv[2]) as fh:\n        fh.write('x'); fh.flush()\n"
            "        print('ready', flush=True); time.sleep(60)\nrun_cli(main)")
    out = tmp_path / "phrase-table.gz"
    p = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    full = tmp_path / "full"
    full.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)],
                                                    capture_output=True).returncode == 0
    try:
        code = ("import sys, errno; sys.path.insert(0, sys.argv[1]); from data.io import write_lines, run_cli\n"
                "def main(argv):\n    if sys.argv[3] == 'sim':\n        raise OSError(errno.ENOSPC, 'No space left on device')\n"
                "    write_lines(sys.argv[2], ['x' * 1000] * 1000)\nrun_cli(main)")
        target = full / "test.hyp"
        r = subprocess.run([sys.executable, "-c", code, str(ROOT), str(target), "real" if mounted else "sim"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert "No space left on device" in r.stderr
        if mounted:
            assert f"error: {target}: No space left" in r.stderr and list(full.iterdir()) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(full)], check=False)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_killing_make_report_stops_the_study(tmp_path, sig):
    """Issue 29 item 3: kill <make's pid> (TERM or KILL) during `make report` stops the report and its
    trainers within seconds (the report watches make through sh; the trainers die with the report)."""
    import shutil
    import signal
    import time
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    from tests.helpers import make_tiny_corpus
    corpus = make_tiny_corpus(tmp_path / "mk", n_train=120, n_dev=10, n_test=10)
    env = {**os.environ, "MT_RUNS_DIR": str(tmp_path / "runs"), "MT_BUILD_DIR": str(tmp_path / "build"),
           "MT_REPORT_DIR": str(tmp_path / "report"), "MT_NO_PROGRESS": "1"}
    make = subprocess.Popen(["make", "-s", "report", f"CORPUS={corpus}", "SRC=de", "TGT=en", "PROFILE=tiny", "JOBS=1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

    def ours() -> list[int]:      # the study's processes: those whose environment names this test's runs
        pids = []
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) != make.pid:
                try:
                    if str(tmp_path / "runs").encode() in open(f"/proc/{d}/environ", "rb").read() and \
                            open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
                        pids.append(int(d))
                except OSError:
                    pass
        return pids

    try:
        for _ in range(600):     # wait for a trainer under the report
            if any(b"train" in open(f"/proc/{p}/cmdline", "rb").read() for p in ours() if os.path.exists(f"/proc/{p}")):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("no trainer started")
        os.kill(make.pid, getattr(signal, sig))
        make.wait()
        for _ in range(100):
            if not ours():
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"still running after make was killed: {ours()}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)


def test_one_study_at_a_time(tmp_path):
    """Issue 29 item 8: a second `compare report` on the same corpus pair says who holds the study (pid,
    start time) and stops, instead of both listing the other's systems as failed."""
    import time
    from tests.helpers import make_tiny_corpus
    corpus = make_tiny_corpus(tmp_path / "st", n_train=120, n_dev=10, n_test=10)
    env = {**os.environ, "MT_RUNS_DIR": str(tmp_path / "runs"), "MT_BUILD_DIR": str(tmp_path / "build"),
           "MT_REPORT_DIR": str(tmp_path / "report"), "MT_NO_PROGRESS": "1"}
    args = [sys.executable, "-m", "compare", "report", "--corpus", str(corpus), "--src", "de", "--tgt", "en",
            "--profile", "tiny", "--jobs", "1", "--no-estimate"]
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = tmp_path / "runs" / "st" / ".de-en.lock"
        for _ in range(600):
            if lock.is_file() and "pid" in lock.read_text():
                break
            time.sleep(0.1)
        r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"already being written by pid {first.pid} (compare report, started " in r.stderr
    finally:
        first.kill()
        first.wait()
