"""Chunking with the real MiniLM tokenizer: budgets, offsets, overlap, pages, headings, headers."""

from __future__ import annotations

import hashlib
import random

import pytest

from rag.chunking import build_context, chunk_document, full_text
from rag.errors import ConfigError
from rag.models import ChunkDraft, LoadedDocument, Section

WORDS = (
    "the of and to in is that for it as with was on be by this are from at or an which have not "
    "protein cell signalling pathway receptor expression mitochondrial regulation inflammation "
    "hypothesis measurement significant observed increased decreased concentration temperature "
    "immunohistochemistry electrophysiological 2019 3.5 95% p<0.001 (n=42) COVID-19 naïve café"
).split()


def prose(
    n_words: int, seed: int = 0, sentence_words: tuple[int, int] = (6, 30), paragraphs: bool = True
) -> str:
    """Deterministic sentences of random words; a paragraph break every 6 sentences if ``paragraphs``."""
    rng = random.Random(seed)
    sentences: list[str] = []
    count = 0
    while count < n_words:
        k = min(rng.randint(*sentence_words), n_words - count)
        words = [rng.choice(WORDS) for _ in range(k)]
        sentences.append(" ".join(words).capitalize() + ".")
        count += k
    if not paragraphs:
        return " ".join(sentences)
    return "\n\n".join(" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6))


def make_doc(*sections: Section, title: str = "A test document") -> LoadedDocument:
    return LoadedDocument(
        title=title,
        source_name="test.txt",
        media_type="text/plain",
        sections=tuple(sections),
        content_sha256="0" * 64,
        size_bytes=0,
    )


def check_invariants(doc: LoadedDocument, chunks: list[ChunkDraft], embedder, chunk_size: int) -> None:
    """What must hold for every chunking: budget, exact offsets, hashes, ordinals, no lost text."""
    text = full_text(doc)
    limit = min(chunk_size, embedder.max_tokens)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    covered = [False] * len(text)
    for c in chunks:
        assert text[c.char_start : c.char_end] == c.text
        assert c.text == c.text.strip() and c.text
        assert c.embedding_input == c.context + c.text
        assert c.token_count == embedder.count_tokens(c.embedding_input) <= limit
        assert c.sha256 == hashlib.sha256(c.embedding_input.encode("utf-8")).hexdigest()
        covered[c.char_start : c.char_end] = [True] * (c.char_end - c.char_start)
    lost = "".join(ch for ch, seen in zip(text, covered, strict=True) if not seen and not ch.isspace())
    assert lost == ""


@pytest.mark.parametrize(("chunk_size", "chunk_overlap"), [(256, 32), (128, 16), (64, 8)])
def test_long_text_never_exceeds_budget(embedder, chunk_size, chunk_overlap):
    doc = make_doc(Section(prose(3000)))
    chunks = chunk_document(doc, embedder, chunk_size, chunk_overlap)
    assert len(chunks) > 3000 // chunk_size
    check_invariants(doc, chunks, embedder, chunk_size)


@pytest.mark.parametrize(("chunk_size", "sentence_words"), [(256, (6, 30)), (64, (3, 8))])
def test_chunks_are_filled(embedder, chunk_size, sentence_words):
    doc = make_doc(Section(prose(2000, seed=15, sentence_words=sentence_words, paragraphs=False)))
    chunks = chunk_document(doc, embedder, chunk_size, chunk_size // 8)
    check_invariants(doc, chunks, embedder, chunk_size)
    counts = sorted(c.token_count for c in chunks)
    assert counts[len(counts) // 2] > 0.8 * chunk_size  # packed sentences, not one sentence per chunk


def test_chunk_size_is_capped_at_model_limit(embedder):
    doc = make_doc(Section(prose(1500, seed=1)))
    chunks = chunk_document(doc, embedder, 1000, 100)
    check_invariants(doc, chunks, embedder, 1000)
    assert max(c.token_count for c in chunks) <= embedder.max_tokens == 256
    assert max(c.token_count for c in chunks) > 200


def test_text_without_separators_is_cut_by_characters(embedder):
    blob = "".join(random.Random(2).choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6000))
    doc = make_doc(Section(f"See {blob} for details.\nhttps://example.org/{blob[:3000]}"))
    chunks = chunk_document(doc, embedder, 64, 8)
    check_invariants(doc, chunks, embedder, 64)


class UndercountingEmbedder:
    """An embedder whose ``tokenize`` undercounts: every comma costs 3 more tokens in ``count_tokens``.

    The splitter measures with ``tokenize``, so its chunks come out too long and the final check with
    ``count_tokens`` has to cut them further.
    """

    name = "undercounting"
    dimension = 2
    max_tokens = 512

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def count_tokens(self, text: str) -> int:
        return 2 + len(text.split()) + 3 * text.count(",")


def test_chunks_still_too_long_are_cut_by_tokens():
    embedder = UndercountingEmbedder()
    doc = make_doc(Section(prose(2000, seed=16).replace(" ", ", ")))
    chunks = chunk_document(doc, embedder, 64, 8)
    check_invariants(doc, chunks, embedder, 64)
    counts = sorted(c.token_count for c in chunks)
    assert counts[len(counts) // 2] > 40  # cut near the limit, not word by word


@pytest.mark.parametrize(
    ("chunk_size", "chunk_overlap", "message"),
    [
        (256, 300, "chunk_overlap 300 must be smaller than chunk_size 256"),
        (256, 256, "chunk_overlap 256 must be smaller than chunk_size 256"),
        (256, -1, "chunk_overlap -1 must be >= 0"),
        (8, 0, "chunk_size 8 is too small"),
    ],
)
def test_invalid_sizes_are_rejected(embedder, chunk_size, chunk_overlap, message):
    with pytest.raises(ConfigError, match=message):
        chunk_document(make_doc(Section("Some text.")), embedder, chunk_size, chunk_overlap)


def test_consecutive_chunks_overlap(embedder):
    # Overlap is made of whole sentences (LangChain's pieces) of at most chunk_overlap tokens.
    doc = make_doc(Section(prose(1200, seed=3, sentence_words=(3, 6), paragraphs=False)))
    chunks = chunk_document(doc, embedder, 64, 16)
    check_invariants(doc, chunks, embedder, 64)
    assert len(chunks) > 10
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.char_start < b.char_start < a.char_end  # b starts inside a: shared text
        shared = full_text(doc)[b.char_start : a.char_end]
        assert 0 < len(embedder.tokenize(shared)) <= 16


def test_zero_overlap_means_disjoint_chunks(embedder):
    doc = make_doc(Section(prose(1200, seed=3, sentence_words=(3, 6), paragraphs=False)))
    chunks = chunk_document(doc, embedder, 64, 0)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.char_start >= a.char_end


def test_offsets_exact_across_sections(embedder):
    doc = make_doc(
        Section("  First section, with leading spaces.  "),
        Section(prose(400, seed=4)),
        Section("Third\n\nsection."),
    )
    assert full_text(doc) == "\n\n".join(s.text for s in doc.sections)
    chunks = chunk_document(doc, embedder, 128, 16)
    check_invariants(doc, chunks, embedder, 128)
    assert chunks[0].text.startswith("First section")
    assert chunks[-1].text.endswith("section.")


def test_pages_follow_the_sections_a_chunk_covers(embedder):
    doc = make_doc(
        Section(prose(50, seed=5), page=1),
        Section(prose(50, seed=6), page=2),
        Section(prose(400, seed=7, paragraphs=False), page=3),
    )
    chunks = chunk_document(doc, embedder, 256, 32)
    check_invariants(doc, chunks, embedder, 256)
    # Page breaks are hard boundaries: two short pages do not share a chunk, so citations name one page.
    assert [(c.page_start, c.page_end) for c in chunks[:2]] == [(1, 1), (2, 2)]
    assert chunks[0].text == doc.sections[0].text
    assert chunks[1].text == doc.sections[1].text
    assert len([c for c in chunks if c.page_start == 3]) > 1
    assert all(c.page_start == c.page_end for c in chunks)
    page_two_start = len(doc.sections[0].text) + 2
    for c in chunks:
        assert c.page_start is not None and c.page_end is not None
        assert c.page_start <= c.page_end
        assert (c.page_start == 1) == (c.char_start < page_two_start)


def test_unpaginated_document_has_no_pages(embedder):
    chunks = chunk_document(make_doc(Section(prose(600, seed=8))), embedder, 128, 16)
    assert all(c.page_start is None and c.page_end is None for c in chunks)


def test_heading_paths_are_hard_boundaries(embedder):
    doc = make_doc(
        Section("Short intro text.", heading_path=("Intro",)),
        Section("More intro text.", heading_path=("Intro",)),
        Section(prose(300, seed=9), heading_path=("Methods",)),
        Section("Setup details.", heading_path=("Methods", "Setup")),
        Section("Closing words.", heading_path=()),
    )
    chunks = chunk_document(doc, embedder, 128, 16)
    check_invariants(doc, chunks, embedder, 128)
    # Same heading path: one stream, so the two short intro sections form one chunk.
    assert chunks[0].text == "Short intro text.\n\nMore intro text."
    assert chunks[0].heading_path == ("Intro",)
    assert chunks[0].context == "A test document\nIntro\n"
    methods = [c for c in chunks if c.heading_path == ("Methods",)]
    assert len(methods) >= 2
    assert all("details" not in c.text and "intro" not in c.text for c in methods)
    assert chunks[-2].text == "Setup details."
    assert chunks[-2].context == "A test document\nMethods > Setup\n"
    assert chunks[-1].text == "Closing words."
    assert chunks[-1].heading_path == ()
    assert chunks[-1].context == "A test document\n"


def test_tiny_trailing_fragment_is_merged(embedder):
    # One long paragraph (split on its own by the recursive splitter), then a short closing line.
    paragraph = prose(160, seed=10, sentence_words=(8, 12)).replace("\n\n", " ")
    doc = make_doc(Section(paragraph + "\n\nThe end."))
    chunks = chunk_document(doc, embedder, 128, 16)
    check_invariants(doc, chunks, embedder, 128)
    assert len(chunks) >= 2
    assert chunks[-1].text.endswith("The end.")
    assert chunks[-1].text != "The end."  # merged into the passage before it
    assert all(c.text != "The end." for c in chunks)


class WordEmbedder:
    """One token per whitespace-separated word, plus 2 special tokens: exact arithmetic for tests."""

    name = "words"
    dimension = 2
    max_tokens = 512

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def count_tokens(self, text: str) -> int:
        return 2 + len(text.split())


@pytest.mark.parametrize(("tail", "merged"), [("End.", True), ("The end.", False)])
def test_tiny_fragment_is_merged_only_if_it_fits(tail, merged):
    # Budget: 64 - (2 specials + 1 title word) = 61 words. Two 60-word sentences fill two chunks; the
    # merged last chunk would be 60 + len(tail) words: 61 fits, 62 does not.
    sentence = " ".join(["word"] * 59) + " stop."
    doc = make_doc(Section(f"{sentence} {sentence}\n\n{tail}"), title="Title")
    chunks = chunk_document(doc, WordEmbedder(), 64, 0)
    check_invariants(doc, chunks, WordEmbedder(), 64)
    if merged:
        assert [c.token_count for c in chunks] == [63, 64]
        assert chunks[-1].text == f"{sentence}\n\n{tail}"
    else:
        assert [c.token_count for c in chunks] == [63, 63, 5]
        assert chunks[-1].text == tail


def test_tiny_fragment_under_another_heading_is_kept(embedder):
    doc = make_doc(
        Section(prose(160, seed=10, sentence_words=(8, 12)), heading_path=("Body",)),
        Section("The end.", heading_path=("Coda",)),
    )
    chunks = chunk_document(doc, embedder, 128, 16)
    assert chunks[-1].text == "The end."


@pytest.mark.parametrize("chunk_size", [256, 64])
def test_very_long_title_still_fits(embedder, chunk_size):
    title = prose(400, seed=11).replace("\n", " ")
    doc = make_doc(Section(prose(500, seed=12)), title=title)
    chunks = chunk_document(doc, embedder, chunk_size, 8)
    check_invariants(doc, chunks, embedder, chunk_size)
    limit = min(chunk_size, embedder.max_tokens)
    context = chunks[0].context
    assert context.endswith("…\n")
    assert title.startswith(context[: -len("…\n")].rstrip())
    assert embedder.count_tokens(context) - 2 <= (limit - 2) // 2  # the passage keeps half the budget
    assert len(embedder.tokenize(context)) > (limit - 2) // 4  # but the header is not thrown away


def test_very_long_heading_path_keeps_innermost_headings(embedder):
    headings = tuple(f"Heading number {i} about regulation" for i in range(60)) + ("Innermost",)
    doc = make_doc(Section(prose(300, seed=13), heading_path=headings), title="Short title")
    chunks = chunk_document(doc, embedder, 128, 16)
    check_invariants(doc, chunks, embedder, 128)
    context = chunks[0].context
    assert context.startswith("Short title\n…")
    assert context.endswith("> Innermost\n")
    assert chunks[0].heading_path == headings


def test_empty_document_gives_no_chunks(embedder):
    assert chunk_document(make_doc(Section("   \n  "), Section("")), embedder, 128, 16) == []
    assert chunk_document(make_doc(), embedder, 128, 16) == []


def test_chunking_is_deterministic(embedder):
    doc = make_doc(Section(prose(800, seed=14)))
    assert chunk_document(doc, embedder, 128, 16) == chunk_document(doc, embedder, 128, 16)


def test_build_context():
    assert build_context("Title", ()) == "Title\n"
    assert build_context("Title", ("Install", "Linux")) == "Title\nInstall > Linux\n"
    assert build_context("A  multi\nline title", ("",)) == "A multi line title\n"
    assert build_context("", ()) == ""
