"""Download a cross-encoder into the Hugging Face cache, with progress, and say whether one is there.

No PyPI package ships cross-encoder weights (see :mod:`rag.rerank`), and the engine loads models with
``HF_HUB_OFFLINE=1`` (:func:`rag.embedding.offline_and_quiet`), so reranking needs an explicit
download: :func:`pull_model` (``rag models pull``, a Settings page's button) fetches only the files a
``sentence_transformers.CrossEncoder`` needs through ``huggingface_hub.snapshot_download`` into the
normal cache (``HF_HUB_CACHE``, by default ``~/.cache/huggingface/hub``), where
``CrossEncoder(name, local_files_only=True)`` then finds it. :func:`reranker_availability` tells,
without any network access, whether the model is there and what to do if not.

``huggingface_hub`` reads ``HF_ENDPOINT`` (mirrors) and ``HF_HUB_OFFLINE`` once, at import, into
``huggingface_hub.constants``. An explicit pull is the user asking for the network, so it runs inside
:func:`rag.catalog.hub.hub_network_allowed`, which lifts the offline flag on that constant for the duration
(changing the environment variable would have no effect once the library is imported).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from rag.catalog.hub import (
    causes,
    hub_network_allowed,
    hub_offline,
    is_unreachable,
    reporting_bar,
    run_with_progress,
)
from rag.config import DEFAULT_RERANKER_MODEL
from rag.errors import ConfigError, ModelDownloadError

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(downloaded_bytes, total_bytes)``; ``total_bytes`` is ``None`` when the Hub gave no sizes."""

PULL_FIX = (
    "run `rag models pull` on a machine with network access, "
    "or copy the model directory and set RAG_RERANKER_MODEL=/path"
)
"""What to do when the reranker is missing and cannot be downloaded here."""

CROSS_ENCODER_FILES = (
    # sentence-transformers layout (modules.json, module subfolders like 1_Pooling/) and model card
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "README.md",
    "[0-9]_*/*",
    # transformers model and tokenizer
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
    # weights: safetensors, else PyTorch pickles (dropped when safetensors exist, see _weights_filter)
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*-of-*.safetensors",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "pytorch_model-*-of-*.bin",
)
"""``allow_patterns`` (fnmatch) of what a CrossEncoder loads; ONNX, OpenVINO, Flax and TF variants of
the same weights (``onnx/``, ``openvino/``, ``flax_model.msgpack``...) are not downloaded."""

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model")


@dataclass(frozen=True)
class ModelAvailability:
    """Whether a reranker model can be loaded here without network access.

    Attributes:
        name: The configured name (``RAG_RERANKER_MODEL``): a Hub id or a directory.
        present: A directory with the model's config, weights and tokenizer exists.
        path: That directory (a snapshot in the Hugging Face cache, or the configured one).
        offline: Hub access is off for the engine (``HF_HUB_OFFLINE=1``, the project's default), so the
            model is never fetched on its own; :func:`pull_model` still may.
        message: One line for the user: where the model is, or what is missing.
        fix: What to do when not present (:data:`PULL_FIX` for Hub ids), else ``None``.
    """

    name: str
    present: bool
    path: Path | None
    offline: bool
    message: str
    fix: str | None = None


@dataclass(frozen=True)
class PullResult:
    """What :func:`pull_model` did.

    Attributes:
        name: The Hub model id.
        path: Snapshot directory in the cache; pass ``name`` (not ``path``) to ``CrossEncoder`` with the
            same cache and ``local_files_only=True``, or use ``path`` directly.
        files: Repository files the snapshot holds for the CrossEncoder (relative paths).
        downloaded_bytes: Bytes fetched now (0 when everything was cached already).
        total_bytes: Bytes that had to be fetched, from the Hub's file sizes.
        seconds: Wall time of the pull.
        already_present: Nothing needed downloading.
    """

    name: str
    path: Path
    files: tuple[str, ...]
    downloaded_bytes: int
    total_bytes: int | None
    seconds: float
    already_present: bool


def pull_model(
    name: str = DEFAULT_RERANKER_MODEL,
    *,
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
) -> PullResult:
    """Download the files a CrossEncoder needs from the Hugging Face Hub into the local cache.

    Network access is allowed for this call even when ``HF_HUB_OFFLINE=1`` (see
    :func:`rag.catalog.hub.hub_network_allowed`). The files are listed first (``snapshot_download(dry_run=True)``) so
    the total size is known before the first byte; then ``snapshot_download`` fetches them in worker
    threads while this thread calls ``progress`` (so a Streamlit progress bar can be updated from it).
    Files already cached are not fetched again, so a pull can be repeated or resumed.

    Args:
        name: Hub model id, default ``cross-encoder/ms-marco-MiniLM-L-6-v2`` (about 91 MB). An existing
            directory is returned as it is.
        progress: Called with ``(downloaded_bytes, total_bytes)`` on this thread after every chunk;
            default: a ``tqdm`` bar on stderr. An exception it raises propagates at once and ends
            network access, which stops the download at its next request (files enter the cache only
            when complete, so a later pull resumes cleanly).
        cache_dir: Hub cache directory; default ``HF_HUB_CACHE`` (``$HF_HOME/hub``).
        revision: Branch, tag or commit; default ``main``.
        endpoint: Hub URL; default ``HF_ENDPOINT`` or ``https://huggingface.co``.

    Returns:
        A :class:`PullResult`.

    Raises:
        ConfigError: ``name`` is empty (reranking disabled).
        ModelDownloadError: the Hub cannot be reached and the model is not cached, the repository does
            not exist or is gated, it holds no CrossEncoder, or writing the files failed; the message
            says what to do (:data:`PULL_FIX` when there is no network).
    """
    if not name:
        raise ConfigError("no reranker to pull: RAG_RERANKER_MODEL is empty (reranking is disabled)")
    started = time.perf_counter()
    local = Path(name).expanduser()
    if local.is_dir():
        return PullResult(name, local.resolve(), _listing(local), 0, 0, 0.0, already_present=True)
    from huggingface_hub import constants, snapshot_download

    hub = (endpoint or constants.ENDPOINT).rstrip("/")
    options: dict[str, Any] = {"cache_dir": cache_dir, "revision": revision, "endpoint": endpoint}
    with hub_network_allowed():
        try:
            plan = snapshot_download(
                name,
                allow_patterns=list(CROSS_ENCODER_FILES),
                dry_run=True,
                tqdm_class=reporting_bar(lambda _bytes: None),  # silent: the dry run moves no bytes
                **options,
            )
        except Exception as exc:  # noqa: BLE001 - mapped to a message that says what to do
            cached = _cached_snapshot(name, cache_dir, revision)
            if cached is not None and is_unreachable(exc):  # offline, but nothing to do anyway
                return PullResult(name, cached, _listing(cached), 0, 0, _since(started), already_present=True)
            raise _download_error(exc, name, hub) from exc
        ignore = _weights_filter([info.filename for info in plan])
        wanted = [info for info in plan if not any(fnmatch(info.filename, p) for p in ignore)]
        todo = [info for info in wanted if info.will_download]
        sizes = [info.file_size for info in todo]
        total = None if any(size is None for size in sizes) else sum(s or 0 for s in sizes)
        report, close = (progress, None) if progress is not None else _tqdm_progress(name, total)
        try:
            folder, downloaded = run_with_progress(
                lambda bar: snapshot_download(
                    name,
                    allow_patterns=list(CROSS_ENCODER_FILES),
                    ignore_patterns=ignore,
                    tqdm_class=bar,
                    **options,
                ),
                lambda done: report(done, total),
                map_error=lambda exc: _download_error(exc, name, hub),
                thread_name=f"rag-pull-{name}",
            )
        finally:
            if close is not None:
                close()
    path = Path(folder)
    missing = _missing_parts(path)
    if missing:
        raise ModelDownloadError(
            f"{name} on {hub} is not a CrossEncoder model: it has no {missing}. "
            "Set RAG_RERANKER_MODEL to a cross-encoder, e.g. cross-encoder/ms-marco-MiniLM-L-6-v2"
        )
    return PullResult(
        name=name,
        path=path,
        files=tuple(info.filename for info in wanted),
        downloaded_bytes=downloaded,
        total_bytes=total,
        seconds=_since(started),
        already_present=not todo,
    )


def reranker_availability(
    name: str = DEFAULT_RERANKER_MODEL, *, cache_dir: str | Path | None = None, revision: str | None = None
) -> ModelAvailability:
    """Say whether the reranker ``name`` can be loaded here, without touching the network.

    Args:
        name: ``RAG_RERANKER_MODEL``: a Hub id looked up in the cache, or a directory; ``""`` means
            reranking is disabled.
        cache_dir: Hub cache directory; default ``HF_HUB_CACHE``.
        revision: Branch, tag or commit; default ``main``.

    Returns:
        A :class:`ModelAvailability` whose ``message`` and ``fix`` can be shown as they are. Never
        raises.
    """
    offline = hub_offline()

    def missing(message: str, fix: str, path: Path | None = None) -> ModelAvailability:
        return ModelAvailability(name, False, path, offline, message, fix)

    if not name:
        return missing(
            "reranking is disabled (RAG_RERANKER_MODEL is empty)",
            f"set RAG_RERANKER_MODEL={DEFAULT_RERANKER_MODEL} and run `rag models pull`",
        )
    local = Path(name).expanduser()
    if local.is_dir():
        lacking = _missing_parts(local)
        if lacking:
            return missing(
                f"{local} is not a CrossEncoder directory: it has no {lacking}",
                "point RAG_RERANKER_MODEL at a directory saved by CrossEncoder.save_pretrained",
                local.resolve(),
            )
        return ModelAvailability(name, True, local.resolve(), offline, f"reranker {name} loads from {local}")
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        return missing(
            f"reranker directory {local} does not exist",
            "check RAG_RERANKER_MODEL: a Hugging Face model id or an existing directory",
        )
    cached = _cached_snapshot(name, cache_dir, revision)
    if cached is not None:
        return ModelAvailability(
            name, True, cached, offline, f"reranker {name} is in the Hugging Face cache ({cached})"
        )
    off = "; downloads are off (HF_HUB_OFFLINE=1), so it is not fetched on its own" if offline else ""
    return missing(
        f"reranker {name} is not in the Hugging Face cache ({_cache_root(cache_dir)}){off}", PULL_FIX
    )


def ensure_reranker(
    name: str = DEFAULT_RERANKER_MODEL,
    *,
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Return the reranker's directory, downloading it first if it is not cached (first use).

    Raises:
        ConfigError: ``name`` is empty.
        ModelDownloadError: as :func:`pull_model`.
    """
    available = reranker_availability(name, cache_dir=cache_dir)
    if available.present and available.path is not None:
        return available.path
    return pull_model(name, progress=progress, cache_dir=cache_dir).path


def _tqdm_progress(name: str, total: int | None) -> tuple[ProgressCallback, Callable[[], None]]:
    """The default progress: one byte bar on stderr; returns ``(callback, close)``."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"Downloading {name}")

    def update(done: int, _total: int | None) -> None:
        bar.update(done - bar.n)

    return update, bar.close


def _weights_filter(files: list[str]) -> list[str]:
    """``ignore_patterns`` that drop PyTorch pickles when the same weights exist as safetensors."""
    if any(f.endswith(".safetensors") for f in files):
        return ["*pytorch_model*.bin", "*pytorch_model.bin.index.json"]
    return []


def _missing_parts(directory: Path) -> str:
    """``""`` if ``directory`` has a config, weights and a tokenizer, else what is missing."""
    missing = []
    if not (directory / "config.json").is_file():
        missing.append("config.json")
    if not any(p.suffix in _WEIGHT_SUFFIXES and "model" in p.name for p in directory.iterdir()):
        missing.append("model weights (model.safetensors or pytorch_model.bin)")
    if not any((directory / f).is_file() for f in _TOKENIZER_FILES):
        missing.append("tokenizer (tokenizer.json or vocab.txt)")
    return ", ".join(missing)


def _cached_snapshot(name: str, cache_dir: str | Path | None, revision: str | None) -> Path | None:
    """The cached snapshot directory of ``name`` with everything a CrossEncoder needs, or ``None``."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "config.json", cache_dir=cache_dir, revision=revision)
    except ValueError:  # not a valid repo id (HFValidationError)
        return None
    if not isinstance(found, str):  # None, or the "known not to exist" marker
        return None
    snapshot = Path(found).parent
    return None if _missing_parts(snapshot) else snapshot


def _cache_root(cache_dir: str | Path | None) -> str:
    from huggingface_hub import constants

    return str(cache_dir or constants.HF_HUB_CACHE)


def _listing(directory: Path) -> tuple[str, ...]:
    return tuple(sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()))


def _since(started: float) -> float:
    return time.perf_counter() - started


def _download_error(exc: BaseException, name: str, hub: str) -> ModelDownloadError:
    """A :class:`ModelDownloadError` that says what went wrong with ``name`` and what to do."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    chain = list(causes(exc))
    detail = next((line.strip() for line in str(chain[-1]).splitlines() if line.strip()), type(exc).__name__)
    if any(isinstance(e, GatedRepoError) for e in chain):
        return ModelDownloadError(
            f"{name} is gated on {hub}: accept its terms on the Hub and set HF_TOKEN, or use another model"
        )
    if any(isinstance(e, RepositoryNotFoundError) for e in chain):
        return ModelDownloadError(
            f"{hub} has no model {name!r} (or it is private): check RAG_RERANKER_MODEL, "
            f"e.g. {DEFAULT_RERANKER_MODEL}"
        )
    if any(isinstance(e, RevisionNotFoundError) for e in chain):
        return ModelDownloadError(f"{name} has no such revision on {hub}: use main or an existing tag")
    if is_unreachable(exc):
        return ModelDownloadError(
            f"cannot download {name}: {hub} cannot be reached ({detail:.200}). To fix: {PULL_FIX}"
        )
    return ModelDownloadError(f"downloading {name} from {hub} failed ({detail:.200}): retry, or {PULL_FIX}")
