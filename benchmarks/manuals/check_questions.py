"""Check the manuals question set against the manual pages it was written from.

For every answerable question, each gold source must be a file listed in ``corpus.txt`` (matched by
base name, which is also the ``source_name`` the engine stores) that exists on disk, and each key fact
(a case-insensitive regular expression) must occur in the text of at least one gold source. The text
of an HTML page is its body as BeautifulSoup sees it, without the navigation parts (Sphinx sidebar and
"related" bars, DocBook header/footer bars and tables of contents), so a fact found only in a
page's menu does not count. Inline markup splits some code spans (``python3 -m venv`` is three
elements in the Python docs), so a fact may match the text joined either with spaces or without.

Also checked: the JSONL schema, unique ids, known kinds, and that unanswerable questions carry no
answers, key facts or gold sources.

Usage (needs beautifulsoup4 and lxml, e.g. the project's virtualenv):

    .venv/bin/python benchmarks/manuals/check_questions.py [--qa QA.jsonl] [--corpus corpus.txt]

Exits 0 when every check passes, 1 after listing every failure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANSWERABLE_KINDS = {
    "definition",
    "procedural",
    "option",
    "lookup",
    "comparison",
    "explanation",
    "troubleshooting",
}
UNANSWERABLE_KINDS = {"off_topic", "near_miss"}
FIELDS = ("id", "question", "answerable", "answers", "key_facts", "gold_sources", "kind")

# Navigation containers of the three manuals' HTML (Sphinx for Python, DocBook for the Debian
# Reference; the asciidoc git man pages have none).
NAV_SELECTORS = (
    "div.sphinxsidebar",
    "div.related",
    "div.footer",
    "[role=navigation]",
    "div.navheader",
    "div.navfooter",
    "div.toc",
)


def page_texts(path: Path) -> tuple[str, ...]:
    """The file's text, whitespace-collapsed, joined with spaces and without (HTML), or as is (text)."""
    data = path.read_bytes()
    if path.suffix.lower() not in (".html", ".htm"):
        return (" ".join(data.decode("utf-8", errors="replace").split()),)
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            soup = BeautifulSoup(data, "lxml")
        except Exception:  # lxml missing: the standard library parser gives the same text here
            soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "head"]):
        tag.decompose()
    for selector in NAV_SELECTORS:
        for tag in soup.select(selector):
            tag.decompose()
    root = soup.body or soup
    return tuple(" ".join(root.get_text(sep).split()) for sep in (" ", ""))


def check(qa_path: Path, corpus_path: Path) -> tuple[list[str], dict[str, int]]:
    failures: list[str] = []
    corpus = [Path(line.strip()) for line in corpus_path.read_text().splitlines() if line.strip()]
    by_name: dict[str, Path] = {}
    for path in corpus:
        if path.name in by_name:
            failures.append(f"corpus: two files named {path.name} ({by_name[path.name]}, {path})")
        by_name[path.name] = path
        if not path.is_file():
            failures.append(f"corpus: {path} does not exist")
    texts: dict[str, tuple[str, ...]] = {}
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for number, line in enumerate(qa_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            failures.append(f"line {number}: not JSON ({exc})")
            continue
        qid = item.get("id", f"line {number}")
        missing = [f for f in FIELDS if f not in item]
        if missing:
            failures.append(f"{qid}: missing fields {missing}")
            continue
        if qid in seen:
            failures.append(f"{qid}: duplicate id")
        seen.add(qid)
        kind = item["kind"]
        counts[kind] = counts.get(kind, 0) + 1
        if not isinstance(item["question"], str) or not item["question"].strip():
            failures.append(f"{qid}: empty question")
        if not item["answerable"]:
            if kind not in UNANSWERABLE_KINDS:
                failures.append(f"{qid}: unanswerable question has kind {kind!r}")
            if item["answers"] or item["key_facts"] or item["gold_sources"]:
                failures.append(f"{qid}: unanswerable question has answers, key facts or gold sources")
            continue
        if kind not in ANSWERABLE_KINDS:
            failures.append(f"{qid}: answerable question has kind {kind!r}")
        if not item["answers"]:
            failures.append(f"{qid}: no reference answer")
        if not 1 <= len(item["key_facts"]) <= 3:
            failures.append(f"{qid}: {len(item['key_facts'])} key facts (want 1-3)")
        if not item["gold_sources"]:
            failures.append(f"{qid}: no gold source")
        gold_texts: list[str] = []
        for name in item["gold_sources"]:
            path = by_name.get(name)
            if path is None:
                failures.append(f"{qid}: gold source {name} is not in {corpus_path.name}")
                continue
            if not path.is_file():
                failures.append(f"{qid}: gold source {path} does not exist")
                continue
            if name not in texts:
                texts[name] = page_texts(path)
            gold_texts.extend(texts[name])
        if not gold_texts:
            continue
        for fact in item["key_facts"]:
            try:
                pattern = re.compile(fact, re.IGNORECASE)
            except re.error as exc:
                failures.append(f"{qid}: key fact {fact!r} is not a valid regex ({exc})")
                continue
            if not any(pattern.search(text) for text in gold_texts):
                failures.append(f"{qid}: key fact {fact!r} not found in {', '.join(item['gold_sources'])}")
    return failures, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", type=Path, default=HERE / "qa.jsonl")
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus.txt")
    args = parser.parse_args(argv)
    failures, counts = check(args.qa, args.corpus)
    summary = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
    print(f"{sum(counts.values())} questions ({summary})")
    if failures:
        print(f"{len(failures)} failure(s):", file=sys.stderr)
        for failure in failures:
            print("  " + failure, file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
