"""Evaluation datasets on disk: BEIR retrieval sets, ClapNQ-like QA sets, and TREC run files.

Formats:
    * BEIR (Thakur et al., NeurIPS 2021 Datasets and Benchmarks; https://github.com/beir-cellar/beir):
      a directory with ``corpus.jsonl``, ``queries.jsonl`` (one JSON object per line with ``_id`` and
      ``text``) and ``qrels/<split>.tsv`` (tab-separated, header ``query-id corpus-id score``).
    * ClapNQ-like QA (Rosenthal et al., 2024; https://github.com/primeqa/clapnq): ``qa.jsonl`` with
      ``id``, ``question``, ``answerable``, ``answers`` and, for answerable questions,
      ``gold_passage_id``.
    * TREC run files as read by ``trec_eval``: one line per retrieved document,
      ``qid Q0 docid rank score tag``, whitespace-separated.

Only the standard library is used: these are line formats and the readers here give messages with the
file and line number (``ir_measures.read_trec_run`` raises a bare ``ValueError`` and only takes ``str``
paths).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, NotFound

BEIR_LAYOUT = "corpus.jsonl, queries.jsonl and qrels/<split>.tsv (header 'query-id corpus-id score')"
QA_FILE = "qa.jsonl"
QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR dataset split, with the corpus left on disk.

    Attributes:
        corpus_path: Path of ``corpus.jsonl`` (read by the ingestion code, not here).
        queries: Query id -> query text, only for the queries judged in the split's qrels.
        qrels: Query id -> {corpus id -> graded relevance (int, 0 = judged not relevant)}.
    """

    corpus_path: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class QAItem:
    """One question of a ClapNQ-like QA set.

    Attributes:
        id: Question id, as in the file.
        question: Question text.
        answerable: Whether the corpus holds an answer (ground truth for abstention).
        answers: Reference answers (empty for unanswerable questions).
        gold_passage_id: Corpus id of the passage that answers it; ``None`` when unanswerable.
    """

    id: str
    question: str
    answerable: bool
    answers: tuple[str, ...]
    gold_passage_id: str | None


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise NotFound(
            f"{what} not found: {path} does not exist. Expected a BEIR directory with {BEIR_LAYOUT}."
        )


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for the non-blank lines of a JSON Lines file (1-based numbers).

    Raises:
        ConfigError: A line is not a JSON object.
    """
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{path}:{number} is not valid JSON ({exc.msg}); fix or remove the line."
                ) from exc
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{number} must be a JSON object, got {type(obj).__name__}.")
            yield number, obj


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is None or tuple(cell.strip() for cell in header) != QRELS_HEADER:
            raise ConfigError(
                f"{path} must start with the header line 'query-id<TAB>corpus-id<TAB>score', got {header!r}."
            )
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 3:
                raise ConfigError(
                    f"{path}:{reader.line_num} must have 3 tab-separated fields "
                    f"(query-id, corpus-id, score), got {len(row)}."
                )
            qid, docid, score = (cell.strip() for cell in row)
            try:
                grade = int(score)
            except ValueError as exc:
                raise ConfigError(f"{path}:{reader.line_num} score {score!r} is not a whole number.") from exc
            qrels.setdefault(qid, {})[docid] = grade
    return qrels


def load_queries(path: Path) -> dict[str, str]:
    """Read a BEIR ``queries.jsonl``: one JSON object per line with ``_id`` and ``text``.

    Unlike :func:`load_beir` this needs no qrels, so it reads the queries of any run to be made.

    Args:
        path: The queries file.

    Returns:
        Query id -> query text, in file order; a repeated id keeps its last text.

    Raises:
        NotFound: The file does not exist.
        ConfigError: A line is not a JSON object or lacks ``_id`` or ``text``.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(
            f"BEIR queries not found: {path} does not exist. Expected a JSON Lines file with one "
            "object per line, with the fields '_id' and 'text'."
        )
    queries: dict[str, str] = {}
    for number, obj in _iter_jsonl(path):
        if "_id" not in obj or "text" not in obj:
            raise ConfigError(f"{path}:{number} needs the fields '_id' and 'text'.")
        queries[str(obj["_id"])] = str(obj["text"])
    return queries


def load_beir(directory: Path, split: str) -> BeirDataset:
    """Load the queries and relevance judgments of one split of a BEIR dataset.

    Args:
        directory: The dataset directory, e.g. ``/work/shared/data/scifact``.
        split: Qrels file name without ``.tsv``, e.g. ``"test"`` or ``"train"``.

    Returns:
        The split; ``queries`` keeps only the queries that appear in the split's qrels (BEIR's
        ``GenericDataLoader`` does the same). A repeated (query, document) pair keeps its last grade.

    Raises:
        NotFound: The directory, ``corpus.jsonl``, ``queries.jsonl`` or ``qrels/<split>.tsv`` is
            missing (the message lists the splits that exist).
        ConfigError: A file is malformed (bad JSON, missing ``_id``/``text``, wrong qrels header,
            non-integer score), or a judged query has no text in ``queries.jsonl``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFound(
            f"BEIR dataset directory {directory} does not exist. Expected a directory with {BEIR_LAYOUT}."
        )
    corpus_path = directory / "corpus.jsonl"
    queries_path = directory / "queries.jsonl"
    qrels_path = directory / "qrels" / f"{split}.tsv"
    _require_file(corpus_path, "BEIR corpus")
    _require_file(queries_path, "BEIR queries")
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (directory / "qrels").glob("*.tsv"))
        raise NotFound(
            f"BEIR qrels for split {split!r} not found: {qrels_path} does not exist "
            f"(available splits: {', '.join(available) or 'none'}). "
            f"Expected a BEIR directory with {BEIR_LAYOUT}."
        )

    qrels = _read_qrels(qrels_path)
    queries = {qid: text for qid, text in load_queries(queries_path).items() if qid in qrels}
    missing = sorted(set(qrels) - set(queries))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ConfigError(
            f"{len(missing)} queries judged in {qrels_path} have no text in {queries_path}: {shown}. "
            "Use the queries file that belongs to these qrels."
        )
    return BeirDataset(corpus_path=corpus_path, queries=queries, qrels=qrels)


def _qa_item(obj: Mapping[str, Any], where: str) -> QAItem:
    for name in ("id", "question", "answerable"):
        if name not in obj:
            raise ConfigError(f"{where} lacks the field {name!r} (need id, question, answerable, answers).")
    answerable = obj["answerable"]
    if not isinstance(answerable, bool):
        raise ConfigError(f"{where} field 'answerable' must be true or false, got {answerable!r}.")
    answers = obj.get("answers") or []
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ConfigError(f"{where} field 'answers' must be a list of strings.")
    gold = obj.get("gold_passage_id")
    return QAItem(
        id=str(obj["id"]),
        question=str(obj["question"]),
        answerable=answerable,
        answers=tuple(answers),
        gold_passage_id=None if gold in (None, "") else str(gold),
    )


def load_qa(directory: Path) -> list[QAItem]:
    """Load a ClapNQ-like question set from ``<directory>/qa.jsonl``.

    Args:
        directory: Dataset directory, e.g. ``/work/shared/data/clapnq-dev``.

    Returns:
        The questions in file order. Extra fields (``selected_sentences``, ``passage_id``) are ignored;
        a missing or empty ``gold_passage_id`` becomes ``None``.

    Raises:
        NotFound: ``qa.jsonl`` does not exist.
        ConfigError: A line is not a JSON object, lacks ``id``/``question``/``answerable``, has a
            non-boolean ``answerable`` or non-list ``answers``, or an id repeats.
    """
    path = Path(directory) / QA_FILE
    if not path.is_file():
        raise NotFound(
            f"QA set not found: {path} does not exist. Expected a directory with {QA_FILE} "
            "(one JSON object per line: id, question, answerable, answers, gold_passage_id)."
        )
    items: list[QAItem] = []
    seen: set[str] = set()
    for number, obj in _iter_jsonl(path):
        item = _qa_item(obj, f"{path}:{number}")
        if item.id in seen:
            raise ConfigError(f"{path}:{number} repeats question id {item.id!r}; ids must be unique.")
        seen.add(item.id)
        items.append(item)
    return items


def read_trec_run(path: Path) -> dict[str, dict[str, float]]:
    """Read a TREC run file (``qid Q0 docid rank score tag`` per line, whitespace-separated).

    The rank column is ignored, as ``trec_eval`` does: order comes from the scores.

    Args:
        path: The run file.

    Returns:
        Query id -> {document id -> score}.

    Raises:
        NotFound: The file does not exist.
        ConfigError: A line does not have 6 fields, its score is not a number, or a document is
            listed twice for the same query (``trec_eval`` rejects that too).
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"Run file {path} does not exist.")
    run: dict[str, dict[str, float]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise ConfigError(
                    f"{path}:{number} must have 6 fields 'qid Q0 docid rank score tag', got {len(fields)}."
                )
            qid, _, docid, _, score, _ = fields
            try:
                value = float(score)
            except ValueError as exc:
                raise ConfigError(f"{path}:{number} score {score!r} is not a number.") from exc
            docs = run.setdefault(qid, {})
            if docid in docs:
                raise ConfigError(f"{path}:{number} lists document {docid!r} twice for query {qid!r}.")
            docs[docid] = value
    return run


def trec_order(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """Rank one query's documents the way ``trec_eval`` does.

    Score descending, ties by document id descending (``trec_eval``'s ``form_res_rels`` sort, also used
    by ``pytrec_eval``).

    Args:
        docs: Document id -> score, higher is better.

    Returns:
        ``(document id, score)`` pairs, best first.
    """
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def write_trec_run(run: Mapping[str, Mapping[str, float]], path: Path, tag: str) -> None:
    """Write a run as a TREC run file, ``qid Q0 docid rank score tag`` per line.

    Queries are written in sorted id order; within a query, documents by score descending with
    1-based ranks, in :func:`trec_order` (ties by document id descending, as ``trec_eval`` re-sorts a
    run), so the written ranks match the evaluated ones.

    Args:
        run: Query id -> {document id -> score}.
        path: Output file (overwritten; parent directories are created).
        tag: Run name for the last column; must be non-empty and contain no whitespace.

    Raises:
        ConfigError: ``tag``, a query id or a document id is empty or contains whitespace.
    """
    if not tag or any(ch.isspace() for ch in tag):
        raise ConfigError(
            f"Run tag {tag!r} must be non-empty and contain no whitespace, e.g. 'hybrid-rrf60'."
        )
    lines: list[str] = []
    for qid in sorted(run):
        for rank, (docid, score) in enumerate(trec_order(run[qid]), start=1):
            for name, value in (("query id", qid), ("document id", docid)):
                if not value or any(ch.isspace() for ch in value):
                    raise ConfigError(
                        f"TREC run {name} {value!r} must be non-empty and contain no whitespace."
                    )
            lines.append(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")
