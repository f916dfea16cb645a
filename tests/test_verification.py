"""Output checks of rag.verification and the follow-up guard of rag.followup, on the packaged MiniLM."""

from __future__ import annotations

from rag.followup import check_rewrite, is_self_contained
from rag.prompting import SYSTEM_PROMPT
from rag.verification import (
    check_support,
    degenerate_problem,
    echo_problem,
    extractive_answer,
    literal_symbols,
    split_sentences,
    terms,
    verify_answer,
)

PASSAGES = [
    "BRIN stands for Block Range Index. BRIN indexes store summaries about the values in consecutive "
    "physical block ranges of a table.",
    "VACUUM FULL rewrites the entire contents of the table into a new disk file with no extra space, "
    "allowing unused space to be returned to the operating system. Plain VACUUM does not lock the table.",
]


def test_terms_and_sentences():
    assert terms("How does the configuration work?") == {"config", "work"}
    assert split_sentences("First one [1]. Second one [2].\n- item") == [
        "First one [1].",
        "Second one [2].",
        "- item",
    ]


def test_echo_of_markup_instructions_and_headings_is_detected():
    assert echo_problem('<source id="1">BRIN</source>') == "it repeats the prompt's markup"
    assert echo_problem("Source 1: -a --all This option is only valid") == "it repeats the prompt's markup"
    copied = "Use only facts written in the sources. Never use other knowledge."
    assert echo_problem(copied, [SYSTEM_PROMPT]) == "it repeats the prompt's instructions"
    toc = "11.2.1. B-Tree\n11.2.2. Hash\n11.2.3. GiST\n11.2.4. GIN"
    assert echo_problem(toc) == "it lists section headings instead of answering"
    assert echo_problem("BRIN stands for Block Range Index [1].", [SYSTEM_PROMPT]) is None


def test_degenerate_repetition_is_detected_and_normal_text_is_not():
    assert (
        degenerate_problem("Concurrent builds of index builds on other tables. " * 5) == "it repeats itself"
    )
    normal = (
        "To rebase, first fetch the branch. Then run git rebase with the upstream name. "
        "Resolve each conflict, stage the file, and continue the rebase until it finishes."
    )
    assert degenerate_problem(normal) is None


def test_support_is_checked_per_sentence_against_the_cited_passage(embedder):
    checks = check_support(
        "BRIN stands for Block Range Index [1]. VACUUM FULL returns unused space to the operating system [1].",
        PASSAGES,
        embedder,
    )
    assert [c.supported for c in checks] == [True, False]  # the second sentence cites the wrong passage
    checks = check_support(
        "VACUUM FULL returns unused space to the operating system [2].", PASSAGES, embedder
    )
    assert checks[0].supported and checks[0].cited == (2,)


def test_verify_answer_collects_every_problem(embedder):
    result = verify_answer("The moon is made of cheese.", PASSAGES, [], embedder, finish_reason="timeout")
    assert not result.passed
    assert result.problems == ("the model ran out of time", "it cites none of your documents")
    assert verify_answer("BRIN stands for Block Range Index [1].", PASSAGES, [1], embedder).passed


def test_extractive_answer_quotes_the_best_sentence_with_its_citation(embedder):
    text = extractive_answer("What does BRIN stand for?", PASSAGES, embedder, limit=1)
    assert text == "- BRIN stands for Block Range Index. [1]"


def test_self_contained_questions_skip_the_rewrite():
    assert is_self_contained("How does a BRIN index work?")
    assert not is_self_contained("How does it work?")
    assert not is_self_contained("And what about taxi receipts?")


def test_rewrite_must_keep_the_subject(embedder):
    kept = check_rewrite("How does it scale?", "How does a BRIN index scale?", embedder)
    assert kept.rewritten and kept.query == "How does a BRIN index scale?"
    changed = check_rewrite(
        "How does a BRIN index work?", "What is the default isolation level in PostgreSQL?", embedder
    )
    assert not changed.rewritten and changed.query == "How does a BRIN index work?"
    assert changed.reason == "the rewrite dropped: brin, index, work"


def test_literal_symbols_pick_the_sentence_with_the_option(embedder):
    passages = [
        "The apt-get command installs and removes packages from the Debian archive and keeps the "
        "package lists up to date. The -s option makes apt-get simulate the actions without changing the system."
    ]
    question = "What does the -s flag of apt-get do?"
    assert literal_symbols(question) == ["-s"]
    assert "simulate" in extractive_answer(question, passages, embedder, 1)
