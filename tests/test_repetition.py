"""Tests of rag.llm.repetition.find_loop: real looping replies are cut, normal answers are not."""

from __future__ import annotations

import pytest

from rag.llm.repetition import find_loop

LOOP = "Concurrent builds of index builds on other tables. "


def _cut(text: str) -> str | None:
    cut = find_loop(text)
    return None if cut is None else text[:cut]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # The loop users saw with SmolLM2-135M (510 s until the token limit).
        (LOOP * 20, "Concurrent builds of index builds on other tables."),
        (
            "Indexes help [1]. " + LOOP * 3,
            "Indexes help [1]. Concurrent builds of index builds on other tables.",
        ),
        # Real SmolLM2 replies from the measurement in the commit message (512-token loops).
        ("The answer is:\n\n" * 40, "The answer is:"),
        (
            "".join(f"{i}. The source is {i}.\n" for i in range(1, 40)),
            "1. The source is 1.",
        ),
        # Numbered copies of one sentence: the list marker of the second copy goes too.
        (
            "".join(f"{i}. {LOOP.strip()}\n" for i in range(1, 6)),
            "1. Concurrent builds of index builds on other tables.",
        ),
        ("I do not know. " * 6, "I do not know."),
        ("very " * 12, "very"),
        # No spaces for the word rule to see: the character rule.
        ("See below:\n" + "=" * 100, "See below:\n="),
        ("Result: " + "ab" * 60, "Result: ab"),
    ],
)
def test_looping_text_is_cut_after_one_copy(text: str, kept: str) -> None:
    assert _cut(text) == kept


def test_loop_is_found_while_streaming_once_the_third_copy_has_eight_words() -> None:
    two_copies = LOOP * 2
    assert find_loop(two_copies) is None  # a restatement is allowed
    assert find_loop(two_copies + "Concurrent builds of index builds on other") is None  # 7 words
    assert find_loop(two_copies + "Concurrent builds of index builds on other tables") == len(LOOP.strip())


@pytest.mark.parametrize(
    "text",
    [
        # A normal paragraph with many repeated short words.
        "The cluster is started by pg_ctlcluster. The cluster is stopped by pg_ctlcluster too. "
        "The cluster is the set of databases that one server manages, and the server is the "
        "process that the cluster runs in. It is the same for every version of the server.",
        # Numbered steps that share their structure but not their words.
        "1. Install the postgresql package [1].\n"
        "2. Get a shell for the database superuser postgres [1].\n"
        "3. Create a database user with createuser -DRS joe [1].\n"
        "4. Create a database with createdb -O joe joework [1].\n"
        "5. Exit the postgres shell and connect with psql joework [1].",
        # Lists of numbers are not loops.
        "Ports: 80, 443, 8080, 8443, 5432, 5433, 5434, 6379, 11211, 27017, 9200, 9300 and 3306.",
        # A restatement (twice) is allowed.
        "Orders ship within two business days [1]. Again: orders ship within two business days [1].",
        # Markdown rule and table: shorter than the character rule's minimum.
        "Summary\n-------\n| a | b |\n|---|---|\n| 1 | 2 |",
        "",
        "short",
    ],
)
def test_normal_answers_do_not_trigger(text: str) -> None:
    assert find_loop(text) is None


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="repeats >= 2"):
        find_loop("x", repeats=1)
    assert find_loop("alpha beta " * 3, ngram_words=2, repeats=3) is not None
    assert find_loop("alpha beta " * 3) is None
