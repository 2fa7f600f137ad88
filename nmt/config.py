"""The NMT training configuration: one dataclass, the only list of options.

Every option of ``python -m nmt train`` that shapes a model or its training is a field of
:class:`TrainConfig`, with its help text, its command-line flag (generated, so a new option is
added here and nowhere else), whether it is part of the *resume key* (a change of a field that
only says when to stop or how to decode keeps ``last.pt`` resumable) and its *off* value (an
option that is off is left out of the recorded config, so runs made before the option existed
stay up to date).

A config is resolved in three layers (:func:`resolve`): the field defaults, the profile's ``nmt``
section (``data/profiles.py``; its ``per_arch`` entries for the chosen ``--arch``), then the
command line. Fields marked ``required`` have no default of their own: every profile gives them.
The recorded form (checkpoints, ``scores.json``, the resume key) is :meth:`TrainConfig.to_dict`.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from data import profiles
from data.io import UserError


def option(default=None, help: str | None = None, *, flag: str | None = "override", type=None, choices=None,
           boolean: bool = False, required: bool = False, resume: bool = True, off=dataclasses.MISSING,
           positive: bool = False, minimum: float | None = None, below: float | None = None):
    """A :class:`TrainConfig` field.

    Args:
        help: the command-line help (``flag=None``: no flag, the profile or the default decides).
        flag: ``"override"`` (the "profile overrides" group), ``"main"`` (the top group) or None.
        type/choices/boolean: the flag's argparse type, choices, or ``--x/--no-x``.
        required: no default here; every profile gives it.
        resume: part of the resume key (False: changing it keeps ``last.pt`` resumable).
        off: the value that means "off": then the field is left out of :meth:`TrainConfig.to_dict`.
        positive / minimum / below: checked by :meth:`TrainConfig.validate` (when not None).
    """
    meta = dict(help=help, flag=flag if help else None, type=type, choices=choices, boolean=boolean,
                required=required, resume=resume, off=off, positive=positive, minimum=minimum, below=below)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything that decides a trained model (see the module docstring and ``nmt/train.py``)."""

    # -- what is trained, on what ------------------------------------------------------------------
    arch: str = option("rnnsearch", "model architecture", flag="main", choices=["rnnenc", "rnnsearch"])
    seed: int = option(profiles.SEED, "seed of weights, data order and dropout", flag="main", type=int)
    train_size: int | None = option(None, "train on a deterministic subset of N pairs (default: all)", flag="main",
                                    type=int)
    vocab_size: int = option(None, "vocabulary cap per side incl. 4 specials", flag="override", type=int,
                             required=True, positive=True)
    bpe_merges: int = option(0, "subword units: learn N joint BPE merges on the training data (Sennrich et al. "
                                "2016) and train on units instead of words; 0 = word level", type=int, off=0, minimum=0)
    reverse_source: bool = option(False, "feed every source sentence reversed (Sutskever et al. 2014): helps the "
                                         "encoder-decoder without attention, whose decoder starts from the encoder's "
                                         "last state", boolean=True, off=False)
    max_len: int = option(None, "drop training pairs longer than this (tokens)", type=int, required=True, positive=True)
    # -- the model ---------------------------------------------------------------------------------
    emb: int = option(None, "embedding size", type=int, required=True, positive=True)
    hidden: int = option(None, "RNN hidden size", type=int, required=True, positive=True)
    layers: int = option(None, "RNN layers", type=int, required=True, positive=True)
    cell: str = option(None, "RNN cell", choices=["gru", "lstm"], required=True)
    dropout: float = option(None, "dropout", type=float, required=True, minimum=0.0, below=1.0)
    word_dropout_src: float = option(0.0, "word dropout on the source: each source token's whole embedding is "
                                          "zeroed with this probability in training (per position; Sennrich & "
                                          "Zhang 2019 §3.2, after Gal & Ghahramani 2016); 0 = off",
                                     type=float, off=0.0, minimum=0.0, below=1.0)
    word_dropout_tgt: float = option(0.0, "word dropout on the target: the same for the decoder's input tokens "
                                          "y_{i-1}; 0 = off", type=float, off=0.0, minimum=0.0, below=1.0)
    attention: str = option("bahdanau", "attention scoring (rnnsearch)", choices=["bahdanau", "luong-dot", "luong-general"])
    bidirectional: bool | None = option(None, "encoder reads both ways (when not given: the paper's choice, yes for "
                                              "rnnsearch, no for rnnenc; for rnnenc, c then also holds the backward "
                                              "state that ends at the first word)", boolean=True)
    tie_embeddings: bool = option(False)
    readout: int | None = option(None)
    # -- optimisation ------------------------------------------------------------------------------
    batch_tokens: int = option(None, "padded tokens per batch", type=int, required=True, positive=True)
    batch_sents: int | None = option(None, "maximum sentences per batch", type=int)
    lr: float = option(None, "Adam learning rate", type=float, required=True, positive=True)
    lr_decay: float = option(0.5)
    min_lr: float = option(1e-5)
    clip: float = option(1.0)
    label_smoothing: float = option(0.0, "label smoothing epsilon", type=float, minimum=0.0, below=1.0)
    sampled_softmax: int = option(0, "train with a softmax over K target words per batch (the batch's words + "
                                     "uniform negatives; Jean et al. 2015); 0 = full softmax", type=int, off=0, minimum=0)
    amp: str = option("off", "mixed precision for training: bf16 autocast (weights and Adam stay fp32; faster on CPUs "
                             "with AVX512-BF16/AMX); auto = bf16 where the hardware has it",
                      choices=["off", "bf16", "auto"], off="off")
    # -- when to stop (not in the resume key: more of them continues a run) ------------------------
    epochs: int = option(None, "maximum epochs", type=int, required=True, positive=True, resume=False)
    max_steps: int | None = option(None, "the update budget: stop after this many updates (early stopping may stop "
                                         "sooner)", type=int, positive=True, resume=False)
    max_minutes: float | None = option(None, "an explicit wall-time cap in minutes, 0 = none: results then depend "
                                             "on the machine's speed; scores.json and the report say when it cut "
                                             "training short", type=float, resume=False)
    patience: int = option(None, "early stopping: evaluations without improvement", type=int, required=True,
                           resume=False)
    eval_every: int = option(None, "evaluate on dev every N steps", type=int, required=True, positive=True)
    eval_dev_size: int | None = option(None, "dev sentences used by evaluations", type=int)
    # -- decoding the test set, bookkeeping --------------------------------------------------------
    beam: int = option(None, "test beam size", type=int, required=True, positive=True, resume=False)
    length_penalty: float = option(1.0)
    decode_batch: int = option(64)
    save_every: int = option(200, "write last.pt every N steps", type=int, positive=True, resume=False)
    log_every: int = option(20, "write a train.log line every N steps", type=int, positive=True, resume=False)

    def to_dict(self) -> dict:
        """The recorded form: every field, except those that are off."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.metadata["off"] is not dataclasses.MISSING and v == f.metadata["off"]:
                continue
            out[f.name] = v
        return out

    def resume_key(self, corpus_hash: str) -> dict:
        """What ``last.pt`` must have been trained with to be continued."""
        resume = {f.name for f in dataclasses.fields(self) if f.metadata["resume"]}
        return {"corpus_hash": corpus_hash, **{k: v for k, v in self.to_dict().items() if k in resume}}

    def validate(self) -> None:
        """One clear line for a bad value (as the flag names it)."""
        for f in dataclasses.fields(self):
            v, m, name = getattr(self, f.name), f.metadata, "--" + f.name.replace("_", "-")
            if v is None:
                if m["required"]:
                    raise UserError(f"{name}: no value (the profile must give it)")
                continue
            if m["positive"] and v <= 0:
                raise UserError(f"{name} must be positive (got {v})")
            if m["minimum"] is not None and m["below"] is not None and not m["minimum"] <= v < m["below"]:
                raise UserError(f"{name} must be in [{m['minimum']:g}, {m['below']:g}) (got {v})")
            if m["minimum"] is not None and m["below"] is None and not v >= m["minimum"]:
                raise UserError(f"{name} must be >= {m['minimum']:g} (got {v})")


def fields_with_flag(group: str) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata["flag"] == group]


def profile_values(profile: str, arch: str) -> dict:
    """What each field is when no flag is given: the field defaults ← ``profile``'s nmt section (and its
    ``per_arch`` entry for ``arch``); printed by --help as the values they are."""
    values = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    prof = profiles.get(profile, "nmt")
    per_arch = prof.pop("per_arch", {}).get(arch, {})
    return {**values, **prof, **per_arch}


def add_arguments(parser: argparse.ArgumentParser, group: str, profile: str | None = None,
                  arch: str = "rnnsearch") -> None:
    """The flags of the fields of ``group`` ("main" or "override"); each defaults to None (= not given).
    With ``profile``, each override's help ends with its value in that profile (for ``arch``)."""
    values = profile_values(profile, arch) if profile else {}
    for f in fields_with_flag(group):
        m = f.metadata
        text = m["help"]
        if group == "override" and profile and "default" not in text:
            v = values.get(f.name)
            if f.name == "bidirectional" and v is None:   # the paper's choice
                v = arch == "rnnsearch"
            shown = "none" if v is None else ("yes" if v is True else "no" if v is False else v)
            text += f" (default: {shown} (profile {profile}, {arch}))"
        kw: dict = {"default": None, "help": text}
        if m["boolean"]:
            kw["action"] = argparse.BooleanOptionalAction
        elif m["choices"]:
            kw["choices"] = m["choices"]
        else:
            kw["type"] = m["type"]
        if group == "main" and f.default is not None:  # --arch, --seed: shown with their defaults
            kw["default"] = f.default
        parser.add_argument("--" + f.name.replace("_", "-"), **kw)


def resolve(args: argparse.Namespace) -> TrainConfig:
    """Field defaults ← the profile's "nmt" section (and its ``per_arch`` entry) ← the command line."""
    values = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    prof = profiles.get(args.profile, "nmt")
    per_arch = prof.pop("per_arch", {})     # e.g. {"rnnenc": {"reverse_source": True}}
    arch = getattr(args, "arch", None) or values["arch"]
    for source, what in ((prof, f"profile {args.profile!r}"), (per_arch.get(arch, {}), f"profile {args.profile!r} ({arch})")):
        unknown = sorted(set(source) - set(values))
        if unknown:
            raise UserError(f"{what}: unknown nmt option(s) {', '.join(unknown)}")
        values.update(source)
    for f in dataclasses.fields(TrainConfig):
        if f.metadata["flag"] is not None and getattr(args, f.name, None) is not None:
            values[f.name] = getattr(args, f.name)
    cfg = TrainConfig(**values)
    cfg.validate()
    return cfg
