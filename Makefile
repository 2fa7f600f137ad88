# The whole suite through Make. `make help` lists the targets (their `## ` comments) and the variables
# (the `#: NAME  text` lines below: a new variable documented on such a line is listed too).
# Every target runs `setup` first; every stage is incremental (finished artifacts are reused).
#: CORPUS           bible | multi30k | a directory of {train,dev,test}.{src,tgt}[.gz] (the corpus contract)
#: SRC, TGT         the language pair (default: es-en for bible, de-en for multi30k)
#: PROFILE          quick | full | tiny: sizes and settings of every stage (data/profiles.py)
#: JOBS             make report: systems trained at once (auto = cores / THREADS); results do not depend on it
#: THREADS          per system, every stage: torch threads for NMT, decoder processes for SMT (make report: the
#:                  profile's, 1; make nmt: all cores). NMT results depend on it in the last bits
#: ALIGN            make smt: word aligner, hmm | gibbs (smt/gibbs.py's sampler); default: the profile's
#: SYMMETRIZE       make smt: e.g. grow-diag-final-and, or posterior with ALIGN=gibbs; default: the profile's
#: ALIGN_SHARDS     make smt: K, EM aligners only: align over K slices of the corpus on disk, memory ~ corpus / K
#: FERTILITY        make smt: N fertility-HMM iterations after the HMM alignment (default: none)
#: REORDERING       make smt: distance | msd-bidirectional-fe; default: the profile's
#: POP_LIMIT        make smt: decode by cube pruning with N pops per stack (default: the stack search)
#: UNKNOWN          make smt: split | none: rewrite unknown German source words into known ones before decoding
#: MERT_ITERATIONS  make smt: MERT rounds; default: the profile's
#: TUNE_DEV         make smt: MERT on N sampled dev sentences, 0 = all; default: the profile's
#: SMOOTHING        make smt: none | good-turing | kneser-ney phrase-table smoothing; default: the profile's
CORPUS  ?= bible
SRC     ?=
TGT     ?=
PROFILE ?= quick
JOBS    ?= auto
THREADS ?=
REORDERING ?=
POP_LIMIT ?=
FERTILITY ?=
UNKNOWN ?=
MERT_ITERATIONS ?=
SMOOTHING ?=
TUNE_DEV ?=
ALIGN ?=
SYMMETRIZE ?=
TEXT    ?=
PORT    ?= 8000
ALIGN_SHARDS ?=
PY      := .venv/bin/python
CORPUS_ARGS := --corpus "$(CORPUS)" $(if $(SRC),--src $(SRC)) $(if $(TGT),--tgt $(TGT))
ARGS    := $(CORPUS_ARGS) --profile $(PROFILE)

.PHONY: help setup data smt nmt report test bench clean translate demo

help: ## list the targets and the variables they accept
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'
	@echo "variables (make TARGET NAME=value):"
	@grep -hE '^#: ' $(MAKEFILE_LIST) | cut -c4- | sed 's/^/  /'
	@echo "profiles: quick (default: the trained bible study, ~1 h on 2 cores), full (Multi30k, paper-like sizes), tiny (tests; NMT untrained)"

setup: ## create .venv (torch CPU first, pinned packages) and build KenLM lmplz/build_binary into tools/bin
	@bash scripts/setup.sh

data: setup ## prepare the corpus (NFC, Moses tokenise + truecase, clean) and print its table
	$(PY) -m data prepare $(CORPUS_ARGS)

smt: setup ## phrase-based SMT: align, phrase table, KenLM, MERT, translate test -> runs/<corpus>/<src>-<tgt>/pbsmt
	$(PY) -m smt train $(ARGS) $(if $(THREADS),--jobs $(THREADS)) $(if $(REORDERING),--reordering $(REORDERING)) $(if $(POP_LIMIT),--pop-limit $(POP_LIMIT)) $(if $(FERTILITY),--fertility-iterations $(FERTILITY)) $(if $(UNKNOWN),--unknown-words $(UNKNOWN)) $(if $(MERT_ITERATIONS),--mert-iterations $(MERT_ITERATIONS)) $(if $(SMOOTHING),--phrase-smoothing $(SMOOTHING)) $(if $(TUNE_DEV),--tune-dev-size $(TUNE_DEV)) $(if $(ALIGN),--align-model $(ALIGN)) $(if $(SYMMETRIZE),--symmetrize $(SYMMETRIZE)) $(if $(ALIGN_SHARDS),--shards $(ALIGN_SHARDS))

nmt: setup ## RNN NMT: rnnenc and rnnsearch -> runs/<corpus>/<src>-<tgt>/{rnnenc,rnnsearch}
	$(PY) -m nmt train $(ARGS) --arch rnnenc $(if $(THREADS),--threads $(THREADS))
	$(PY) -m nmt train $(ARGS) --arch rnnsearch $(if $(THREADS),--threads $(THREADS))

report: setup ## the whole study (trains what is missing) -> report/<corpus>-<src>-<tgt>/index.html + results.csv
	$(PY) -m compare report $(ARGS) --jobs $(JOBS) $(if $(THREADS),--threads $(THREADS))

translate: setup ## translate TEXT="…" (or standard input) with every trained system, side by side (compare/translate.py)
	$(if $(TEXT),$(PY) -m compare translate $(CORPUS_ARGS) -- "$(TEXT)",$(PY) -m compare translate $(CORPUS_ARGS))

demo: setup ## a local page translating with every trained system: http://127.0.0.1:$(PORT)/ (compare/serve.py)
	$(PY) -m compare serve $(CORPUS_ARGS) --port $(PORT)

test: setup ## the test suite (pytest)
	$(PY) -m pytest -q tests

bench: setup ## speed/quality vs NLTK, eflomal, JoeyNMT; NMT recipe study, throughput/MFU -> runs/bench/*.md
	$(PY) benchmarks/run_all.py

clean: ## remove prepared data, runs and reports (keeps .venv and tools)
	rm -rf build runs report
