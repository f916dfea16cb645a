"""Calibration texts for static int8 quantization, taken from Python's own standard library.

Static quantization (the OpenVINO qint8 backend, ``rag.embedding_backends``) fixes each activation's
int8 scale from the ranges seen while the fp32 model embeds sample texts. The samples must exist
offline on every machine and must not be our evaluation data (SciFact, ClapNQ, the manuals), so they
are the docstrings of standard-library modules: English technical prose, present wherever Python is.
Docstrings change slightly between Python releases, so the build records the Python version
(``rag-model.json``) and a different interpreter builds its own model.
"""

from __future__ import annotations

import importlib
import inspect
import random

CALIBRATION_MODULES = (
    "argparse asyncio base64 bisect calendar codecs collections configparser contextlib copy csv "
    "dataclasses datetime decimal email.message enum fractions functools glob hashlib heapq "
    "http.client inspect io ipaddress itertools json locale logging mailbox math mimetypes "
    "multiprocessing operator os pathlib pickle platform queue random re shutil signal smtplib "
    "socket sqlite3 ssl statistics string struct subprocess tarfile tempfile textwrap threading "
    "time traceback typing unittest urllib.request uuid warnings weakref xml.etree.ElementTree "
    "zipfile"
).split()
"""Standard-library modules whose docstrings are sampled."""

PARAGRAPHS = 240
"""Whole docstring paragraphs in the set (passage-like inputs, up to the model's window)."""

SNIPPETS = 60
"""Further paragraphs cut to their first :data:`SNIPPET_WORDS` words (query-like inputs)."""

SNIPPET_WORDS = 4

MIN_CHARACTERS = 40
"""Shorter paragraphs (signatures, "Return x.") are left out."""


def calibration_texts(seed: int = 0) -> list[str]:
    """:data:`PARAGRAPHS` paragraphs and :data:`SNIPPETS` short snippets of stdlib docstrings.

    Paragraphs are split on blank lines with whitespace collapsed, deduplicated, shuffled with
    ``random.Random(seed)`` (the same list for the same Python), and the first
    ``PARAGRAPHS + SNIPPETS`` kept. 300 samples follow NNCF's default ``subset_size`` of 300.

    Returns:
        Up to 300 strings (fewer only if the interpreter ships without docstrings, ``-OO``).
    """
    paragraphs: dict[str, None] = {}
    for module_name in CALIBRATION_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # a Python built without ssl, sqlite3, ...
            continue
        objects = [module] + [
            getattr(module, name) for name in sorted(dir(module)) if not name.startswith("_")
        ]
        for item in objects:
            if not (inspect.ismodule(item) or inspect.isclass(item) or inspect.isfunction(item)):
                continue
            for paragraph in (inspect.getdoc(item) or "").split("\n\n"):
                text = " ".join(paragraph.split())
                if len(text) >= MIN_CHARACTERS:
                    paragraphs[text] = None
    texts = list(paragraphs)
    random.Random(seed).shuffle(texts)
    snippets = [" ".join(text.split()[:SNIPPET_WORDS]) for text in texts[PARAGRAPHS : PARAGRAPHS + SNIPPETS]]
    return texts[:PARAGRAPHS] + snippets
