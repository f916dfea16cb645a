"""Small tools around ``huggingface_hub``: allow the network for one call, relay progress, read errors.

``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once, at import, into ``huggingface_hub.constants``, and
its HTTP hook checks ``constants.is_offline_mode()`` before every request (huggingface_hub 2.4,
``utils/_http.py``). The engine sets ``HF_HUB_OFFLINE=1`` before loading models
(:func:`rag.embedding.offline_and_quiet`), so an explicit download has to lift that flag on the
constant, not in the environment: :func:`hub_network_allowed`.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_online_lock = threading.Lock()
_online_users = 0
_saved_offline = False


@contextmanager
def hub_network_allowed() -> Iterator[None]:
    """Let ``huggingface_hub`` make requests inside the block, whatever ``HF_HUB_OFFLINE`` says.

    Sets ``huggingface_hub.constants.HF_HUB_OFFLINE`` to ``False`` and restores the previous value when
    the last of the nested or concurrent blocks ends (a counter under a lock, so two pulls at once do
    not restore it early). It is process-wide: other threads may reach the Hub meanwhile, but the
    engine's own loads pass ``local_files_only=True`` and stay offline.
    """
    global _online_users, _saved_offline
    from huggingface_hub import constants

    with _online_lock:
        if _online_users == 0:
            _saved_offline = constants.HF_HUB_OFFLINE
        _online_users += 1
        constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        with _online_lock:
            _online_users -= 1
            if _online_users == 0:
                constants.HF_HUB_OFFLINE = _saved_offline


def hub_offline() -> bool:
    """Whether Hub access is off for model loading: in ``huggingface_hub.constants`` or ``HF_HUB_OFFLINE``.

    The environment counts too because the library may have been imported before the engine set the
    variable, and transformers passes the variable's value on to later loads.
    """
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    return bool(constants.is_offline_mode()) or env


def run_with_progress(
    fetch: Callable[[type], T],
    report: Callable[[int], None],
    *,
    map_error: Callable[[BaseException], BaseException] | None = None,
    thread_name: str = "rag-hub",
    stop_timeout_s: float = 30.0,
) -> tuple[T, int]:
    """Run ``fetch(tqdm_class)`` on a worker thread and call ``report(bytes)`` on this thread.

    Streamlit elements can only be updated from the script's own thread, while ``snapshot_download``
    moves its progress bars from a thread pool; so the byte counts go through a queue. If ``report``
    raises (a user cancels), the download threads are stopped at their next chunk: the progress bars
    themselves raise there.

    Args:
        fetch: Called on the worker thread with a tqdm class (:func:`reporting_bar`) to pass as
            ``tqdm_class``; its return value is returned.
        report: Called here with the bytes downloaded so far, after each chunk.
        map_error: Turns an exception of ``fetch`` into the one to raise (raised ``from`` it);
            default: raise it as it is.
        thread_name: Name of the worker thread (daemon).
        stop_timeout_s: Seconds to wait for the download threads to stop after ``report`` raised.

    Returns:
        ``(fetch's result, last byte count reported)``.

    Raises:
        Exception: what ``fetch`` raised (through ``map_error``), or what ``report`` raised, as it is.
    """
    events: queue.Queue[int | None] = queue.Queue()
    outcome: dict[str, Any] = {}
    cancelled = threading.Event()

    def relay(done: int) -> None:
        if cancelled.is_set():
            raise DownloadCancelled("the download was cancelled")
        events.put(done)

    def work() -> None:
        try:
            outcome["value"] = fetch(reporting_bar(relay))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            outcome["error"] = exc
        finally:
            events.put(None)

    worker = threading.Thread(target=work, name=thread_name, daemon=True)
    worker.start()
    done = 0
    try:
        while (event := events.get()) is not None:
            done = event
            report(done)
    except BaseException:
        cancelled.set()
        worker.join(stop_timeout_s)
        raise
    worker.join()
    if "error" in outcome:
        error = outcome["error"]
        if map_error is None:
            raise error
        raise map_error(error) from error
    return outcome["value"], done


class DownloadCancelled(Exception):
    """Raised inside download threads to stop them once the caller gave up (internal)."""


def reporting_bar(report: Callable[[int], None]) -> type:
    """A silent ``tqdm`` subclass for ``snapshot_download(tqdm_class=...)`` that reports bytes.

    ``snapshot_download`` (huggingface_hub 2.4) opens two byte bars (``unit="B"``: bytes received and
    bytes written, to which every file's download adds its size and chunks) and a file-count bar. For
    plain HTTP both byte bars move alike; with Xet, fewer bytes may be received (deduplication), so
    the larger count, the bytes written, is reported.

    Args:
        report: Called (from download threads) with the bytes downloaded so far.

    Returns:
        The class; each call makes a new one with its own counters.
    """
    from tqdm.auto import tqdm

    lock = threading.Lock()
    counts: dict[int, float] = {}

    class _Reporter(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._bytes = kwargs.get("unit") == "B"
            kwargs["disable"] = True  # never draw; the caller shows progress its own way
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            self.n += n or 0  # a disabled tqdm does not count
            if self._bytes:
                with lock:
                    counts[id(self)] = self.n
                    report(int(max(counts.values())))
            return None

    return _Reporter


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from (``__cause__``, else ``__context__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the Hub could not be reached (no network, DNS, refused, timeout, offline)."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    kinds: tuple[type[BaseException], ...] = (OfflineModeIsEnabled, ConnectionError, TimeoutError)
    try:  # the HTTP client of huggingface_hub 2.x; its errors are not ConnectionError subclasses
        import httpx2

        kinds += (httpx2.ConnectError, httpx2.TimeoutException)
    except ImportError:
        pass
    if any(isinstance(e, kinds) for e in causes(exc)):
        return True
    # snapshot_download says this (without a cause) when the Hub is down and nothing is cached
    return "check your internet connection" in str(exc).lower()
