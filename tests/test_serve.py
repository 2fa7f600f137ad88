"""compare serve (compare/serve.py) through FastAPI's TestClient: the page, the JSON API with every
bad input answered by a clear JSON error, concurrent requests, and a system that cannot be loaded
shown as unavailable while the others work."""
from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="compare serve needs fastapi (requirements.txt)")
from fastapi.testclient import TestClient  # noqa: E402

from compare.serve import create_app  # noqa: E402
from compare.translate import Study  # noqa: E402
from data.io import read_lines  # noqa: E402


@pytest.fixture(scope="module")
def client(tiny_study):
    root, corpus, runs = tiny_study
    broken = runs / "rnnsearch-broken"                  # a damaged copy of rnnsearch: cannot be loaded
    if not broken.exists():
        shutil.copytree(runs / "rnnsearch", broken)
        (broken / "best.pt").write_bytes(b"not a checkpoint")
    study = Study(str(corpus), "es", "en", ["pbsmt", "rnnenc", "rnnsearch", "rnnsearch-broken", "pbsmt-missing"],
                  whole_table=True)
    with TestClient(create_app(study)) as c:
        yield c, runs, root


def test_page_and_systems(client):
    c, _, root = client
    page = c.get("/")
    assert page.status_code == 200 and 'id="text"' in page.text and "/api/translate" in page.text
    j = c.get("/api/systems").json()
    assert [s["name"] for s in j["systems"]] == ["pbsmt", "rnnenc", "rnnsearch"]
    pb = j["systems"][0]["settings"]
    assert pb["stack_size"] == 20 and pb["reordering"] == "msd-bidirectional-fe"   # from the run folder
    assert j["systems"][2]["settings"]["beam"] == 3 and j["systems"][2]["settings"]["bpe"] is True
    assert set(j["unavailable"]) == {"rnnsearch-broken", "pbsmt-missing"}
    assert "best.pt: not a readable checkpoint" in j["unavailable"]["rnnsearch-broken"] and "not trained" in j["unavailable"]["pbsmt-missing"]
    raw = read_lines(root / "build" / "bib" / "es-en" / "test.raw.es")
    assert j["examples"] and set(j["examples"]) <= set(raw)


def test_translate_matches_the_test_output(client):
    c, runs, root = client
    raw = read_lines(root / "build" / "bib" / "es-en" / "test.raw.es")
    for k in (0, 7):
        r = c.post("/api/translate", json={"text": raw[k]})
        assert r.status_code == 200
        res = r.json()["results"]
        assert set(res) == {"pbsmt", "rnnenc", "rnnsearch"}
        for name, x in res.items():
            assert x["text"] == read_lines(runs / name / "test.hyp")[k] and x["seconds"] >= 0
        assert res["pbsmt"]["explain"]["phrases"] and res["rnnsearch"]["explain"]["attention"]
    r = c.post("/api/translate", json={"text": raw[0], "systems": ["rnnenc"], "explain": False}).json()
    assert list(r["results"]) == ["rnnenc"] and "explain" not in r["results"]["rnnenc"]


@pytest.mark.parametrize("body, status, message", [
    (b'{"text": "\xff\xfe"}', 400, "not valid UTF-8"),
    (b"text=hola", 400, "not JSON"),
    (b'{"texto": "hola"}', 422, 'expected {"text"'),
    (json.dumps({"text": "   "}).encode(), 422, "the text is empty"),
    (json.dumps({"text": " ".join(["palabra"] * 251)}).encode(), 422, "more than the 250"),
    (json.dumps({"text": "hola", "systems": ["nope"]}).encode(), 404, "no system 'nope'"),
    (json.dumps({"text": "hola", "systems": ["rnnsearch-broken"]}).encode(), 409, "rnnsearch-broken is unavailable"),
])
def test_bad_requests_get_a_clear_json_error(client, body, status, message):
    c, _, _ = client
    r = c.post("/api/translate", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status and message in r.json()["error"]


def test_concurrent_requests(client):
    c, runs, root = client
    raw = read_lines(root / "build" / "bib" / "es-en" / "test.raw.es")[:8]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda s: c.post("/api/translate", json={"text": s, "explain": False}).json(), raw))
    for k, a in enumerate(answers):
        for name in ("pbsmt", "rnnenc", "rnnsearch"):
            assert a["results"][name]["text"] == read_lines(runs / name / "test.hyp")[k]
