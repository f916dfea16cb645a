"""Tests for ``rag.loaders``: every input file is generated inside the test (``tmp_path``)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path

import pytest

from rag.errors import (
    ConfigError,
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    LoaderError,
    NoExtractableText,
    UnsupportedFileType,
)
from rag.loaders import SUPPORTED_EXTENSIONS, LoadOptions, iter_files, load_bytes, load_path
from rag.models import LoadedDocument

SCIFACT_CORPUS = Path("/work/shared/data/scifact/corpus.jsonl")


def _load_one(data: bytes, filename: str, options: LoadOptions | None = None) -> LoadedDocument:
    documents = list(load_bytes(data, filename, options or LoadOptions()))
    assert len(documents) == 1
    return documents[0]


def _full_text(document: LoadedDocument) -> str:
    return "\n\n".join(section.text for section in document.sections)


# --------------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------------


def _pdf(pages: list[str], title: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def _encrypt(pdf_bytes: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes)))
    # RC4 needs no extra package (AES needs `cryptography`, which is not a dependency).
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_one_section_per_page_with_page_numbers(tmp_path: Path) -> None:
    data = _pdf(["Aardvarks live in Africa.", "", "Bees make honey.", "Cats sleep a lot."], "Animal Facts")
    path = tmp_path / "animals.pdf"
    path.write_bytes(data)

    document = next(load_path(path))

    assert document.title == "Animal Facts"
    assert document.source_name == "animals.pdf"
    assert document.media_type == "application/pdf"
    assert document.page_count == 4
    # The blank page 2 has no section, but numbering is kept.
    assert [section.page for section in document.sections] == [1, 3, 4]
    assert [section.text for section in document.sections] == [
        "Aardvarks live in Africa.",
        "Bees make honey.",
        "Cats sleep a lot.",
    ]
    assert document.content_sha256 == hashlib.sha256(data).hexdigest()
    assert document.size_bytes == len(data)


def test_pdf_title_falls_back_to_file_stem_and_joins_hyphenated_words() -> None:
    long_line = "Words on the first line of this page fill it up to the right margin so wrap"
    document = _load_one(_pdf([f"{long_line}\nextra-\nordinary result."]), "my-report.pdf")
    assert document.title == "my-report"
    assert "extraordinary result." in document.sections[0].text


def test_encrypted_pdf_raises_encrypted_document() -> None:
    data = _encrypt(_pdf(["Secret plans."]), user_password="hunter2")
    with pytest.raises(EncryptedDocument, match="password protected; remove the password and upload again"):
        load_bytes(data, "secret.pdf")


def test_pdf_with_empty_user_password_is_loaded() -> None:
    data = _encrypt(_pdf(["Readable but restricted."]), user_password="")
    document = _load_one(data, "restricted.pdf")
    assert document.sections[0].text == "Readable but restricted."


def test_pdf_without_text_raises_no_extractable_text() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 80, 40)  # a drawing, no text layer
    pdf.add_page()
    with pytest.raises(
        NoExtractableText, match="no extractable text; the pages have no text layer and no images"
    ):
        load_bytes(bytes(pdf.output()), "scan.pdf")


def test_truncated_pdf_raises_corrupt_document() -> None:
    data = _pdf(["Some text that will be cut off."])
    with pytest.raises(CorruptDocument, match=r"broken\.pdf"):
        load_bytes(data[: len(data) // 2], "broken.pdf")


# --------------------------------------------------------------------------------------------------
# DOCX
# --------------------------------------------------------------------------------------------------


def _docx(core_title: str = "") -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = core_title
    document.add_paragraph("Preface before any heading.")
    document.add_heading("User Guide", level=0)  # style "Title"
    document.add_heading("Install", level=1)
    document.add_paragraph("Download the installer.")
    document.add_heading("Linux", level=2)
    document.add_paragraph("Use the package manager.")
    table = document.add_table(rows=2, cols=3)
    for row, values in enumerate([("OS", "Version", "Notes"), ("Ubuntu", "24.04", "LTS release")]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    document.add_paragraph("After the table.")
    document.add_heading("Usage", level=1)
    document.add_paragraph("Run the program.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_heading_paths_and_table_in_document_order() -> None:
    document = _load_one(_docx(), "guide.docx")

    assert document.title == "User Guide"  # no core title: the first Title/Heading paragraph
    assert document.media_type.endswith("wordprocessingml.document")
    assert [(section.heading_path, section.text) for section in document.sections] == [
        ((), "Preface before any heading."),
        (("User Guide", "Install"), "Download the installer."),
        (
            ("User Guide", "Install", "Linux"),
            "Use the package manager.\nOS | Version | Notes\nUbuntu | 24.04 | LTS release\nAfter the table.",
        ),
        (("User Guide", "Usage"), "Run the program."),
    ]


def test_docx_title_from_core_properties() -> None:
    assert _load_one(_docx(core_title="Official Title"), "guide.docx").title == "Official Title"


def test_docx_that_is_not_a_zip_raises_corrupt_document() -> None:
    with pytest.raises(CorruptDocument, match="cannot be read as DOCX"):
        load_bytes(b"PK\x03\x04 this is not really a zip archive", "bad.docx")


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------

HTML_PAGE = """<!doctype html>
<html><head><title>Team Page</title><style>p { color: red }</style></head>
<body>
  <header><div>Site banner</div></header>
  <nav><a href="/">Home navigation link</a></nav>
  <h1>About us</h1>
  <p>We   build
     things.</p>
  <script>alert('x')</script>
  <h2>Contact</h2>
  <table><tr><th>Name</th><th>Mail</th></tr><tr><td>Ann</td><td>ann@example.org</td></tr></table>
  <h2>History</h2>
  <ul><li>Founded 1999</li><li>Moved 2010</li></ul>
  <!-- hidden comment -->
  <footer>Copyright footer</footer>
</body></html>
"""


def test_html_drops_boilerplate_and_keeps_headings() -> None:
    document = _load_one(HTML_PAGE.encode(), "team.html")
    text = _full_text(document)

    assert document.title == "Team Page"
    assert document.media_type == "text/html"
    for unwanted in ("alert", "Home navigation link", "Site banner", "Copyright footer", "color", "comment"):
        assert unwanted not in text
    assert [(section.heading_path, section.text) for section in document.sections] == [
        (("About us",), "We build things."),
        (("About us", "Contact"), "Name | Mail\nAnn | ann@example.org"),
        (("About us", "History"), "Founded 1999\nMoved 2010"),
    ]


def test_html_title_falls_back_to_first_h1_then_stem() -> None:
    assert _load_one(b"<html><body><h1>Main Heading</h1><p>x</p></body></html>", "a.htm").title == (
        "Main Heading"
    )
    assert _load_one(b"<p>Just a fragment.</p>", "fragment.html").title == "fragment"


def test_html_with_only_scripts_raises_empty_document() -> None:
    with pytest.raises(EmptyDocument, match="no text found"):
        load_bytes(b"<html><body><script>var a = 1;</script><nav>Menu</nav></body></html>", "e.html")


# --------------------------------------------------------------------------------------------------
# Markdown and plain text
# --------------------------------------------------------------------------------------------------

MARKDOWN = """Intro before headings.

# Guide

Welcome.

Second paragraph.

## Install

Run pip.

### Linux

Use apt.

```
# a comment in code, not a heading
```

## Usage

Call it.
"""


def test_markdown_sections_carry_heading_paths() -> None:
    document = _load_one(MARKDOWN.encode(), "guide.md")

    assert document.title == "Guide"
    assert document.media_type == "text/markdown"
    paths = [section.heading_path for section in document.sections]
    assert paths == [(), ("Guide",), ("Guide", "Install"), ("Guide", "Install", "Linux"), ("Guide", "Usage")]
    assert document.sections[1].text == "Welcome.\n\nSecond paragraph."
    assert "# a comment in code, not a heading" in document.sections[3].text


def test_markdown_without_h1_uses_file_stem() -> None:
    assert _load_one(b"## Only a subsection\n\nText.", "notes.markdown").title == "notes"


def test_latin1_text_is_decoded() -> None:
    document = _load_one("Le café naïve était là.\n".encode("latin-1"), "french.txt")
    assert document.sections[0].text == "Le café naïve était là."
    assert document.title == "french"
    assert document.media_type == "text/plain"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-8", "cp1252"])
def test_text_encodings(encoding: str) -> None:
    text = "Résumé \u2013 \u201cquoted\u201d naïve text\n\nSecond paragraph."
    assert _load_one(text.encode(encoding), "note.txt").sections[0].text == text


def test_binary_renamed_to_txt_raises_corrupt_document() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    with pytest.raises(CorruptDocument, match="looks like a binary file, not text"):
        load_bytes(data, "image.txt")


def test_whitespace_only_text_raises_empty_document() -> None:
    with pytest.raises(EmptyDocument, match="no text found"):
        load_bytes(b"  \n\t\n  ", "blank.txt")


# --------------------------------------------------------------------------------------------------
# Checks common to every format
# --------------------------------------------------------------------------------------------------


def test_empty_file_raises_empty_document() -> None:
    with pytest.raises(EmptyDocument, match="file is empty"):
        load_bytes(b"", "nothing.pdf")


def test_unsupported_extension_lists_supported_ones() -> None:
    with pytest.raises(UnsupportedFileType, match=r"\.key.*\.csv, \.docx, \.eml, \.epub"):
        load_bytes(b"data", "slides.key")
    with pytest.raises(UnsupportedFileType):
        load_bytes(b"data", "README")


def test_extension_is_case_insensitive() -> None:
    assert _load_one(b"hello", "SHOUT.TXT").sections[0].text == "hello"
    assert ".jsonl" in SUPPORTED_EXTENSIONS


def test_oversize_file_raises_before_parsing(tmp_path: Path) -> None:
    options = LoadOptions(max_file_bytes=1024 * 1024)
    data = b"x" * (2 * 1024 * 1024)
    # Checked before the extension: even an unsupported type reports the size first.
    with pytest.raises(FileTooLarge, match=r"2\.0 MiB.*1 MiB.*set RAG_MAX_FILE_MB"):
        load_bytes(data, "big.bin", options)
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    with pytest.raises(FileTooLarge, match=r"big\.txt"):
        load_path(path, options)


def test_missing_path_raises_loader_error(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="cannot read"):
        load_path(tmp_path / "missing.txt")


def test_invalid_options_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="csv_mode"):
        LoadOptions(csv_mode="columns")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------

ORGANISATIONS_CSV = (
    "name,description,activities,country\n"
    'Acme Aid,"Helps people, fast",Food banks,FR\n'
    ",Unnamed group,Clean-ups,DE\n"
    "Café Solidaire,Coffee for all,,BE\n"
)


def test_csv_file_mode_is_one_document_with_a_section_per_row() -> None:
    data = ORGANISATIONS_CSV.encode()
    document = _load_one(data, "orgs.csv")

    assert document.source_name == "orgs.csv"
    assert document.title == "orgs"
    assert document.media_type == "text/csv"
    assert [section.text for section in document.sections] == [
        "name: Acme Aid; description: Helps people, fast; activities: Food banks; country: FR",
        "description: Unnamed group; activities: Clean-ups; country: DE",
        "name: Café Solidaire; description: Coffee for all; country: BE",
    ]
    assert document.content_sha256 == hashlib.sha256(data).hexdigest()


def test_csv_rows_mode_is_one_document_per_row() -> None:
    options = LoadOptions(
        csv_mode="rows", csv_title_column="name", csv_text_columns=("description", "activities")
    )
    documents = list(load_bytes(ORGANISATIONS_CSV.encode("cp1252"), "orgs.csv", options))

    assert [document.title for document in documents] == ["Acme Aid", "row 2", "Café Solidaire"]
    assert [document.source_name for document in documents] == [
        "orgs.csv#row-1",
        "orgs.csv#row-2",
        "orgs.csv#row-3",
    ]
    assert documents[0].sections[0].text == "description: Helps people, fast\nactivities: Food banks"
    assert documents[2].sections[0].text == "description: Coffee for all"  # empty values left out
    assert [document.metadata for document in documents] == [
        {"country": "FR"},
        {"country": "DE"},
        {"country": "BE"},
    ]
    assert len({document.content_sha256 for document in documents}) == 3


def test_csv_rows_mode_default_text_columns_are_all_but_title() -> None:
    options = LoadOptions(csv_mode="rows", csv_title_column="name")
    first = next(load_bytes(ORGANISATIONS_CSV.encode(), "orgs.csv", options))
    assert first.sections[0].text == ("description: Helps people, fast\nactivities: Food banks\ncountry: FR")
    assert first.metadata == {}


def test_csv_row_hash_depends_on_content_not_position() -> None:
    options = LoadOptions(csv_mode="rows", csv_title_column="name")
    header, first, second = "name,text\n", "A,alpha\n", "B,beta\n"
    before = list(load_bytes((header + first + second).encode(), "t.csv", options))
    after = list(load_bytes((header + second + first).encode(), "t.csv", options))
    assert before[0].content_sha256 == after[1].content_sha256
    assert before[0].source_name == "t.csv#row-1" and after[1].source_name == "t.csv#row-2"


def test_csv_bad_title_column_names_available_columns() -> None:
    options = LoadOptions(csv_mode="rows", csv_title_column="title")
    with pytest.raises(
        ConfigError, match=r"'title'.*available columns: name, description, activities, country"
    ):
        load_bytes(ORGANISATIONS_CSV.encode(), "orgs.csv", options)
    options = LoadOptions(csv_mode="rows", csv_title_column="name", csv_text_columns=("summary",))
    with pytest.raises(ConfigError, match="'summary'"):
        load_bytes(ORGANISATIONS_CSV.encode(), "orgs.csv", options)


@pytest.mark.parametrize("content", ["name,description\n", "\n\n"])
def test_csv_without_rows_raises_empty_document(content: str) -> None:
    with pytest.raises(EmptyDocument):
        load_bytes(content.encode(), "empty.csv")


def test_csv_with_ragged_rows_raises_corrupt_document() -> None:
    with pytest.raises(CorruptDocument, match="cannot be parsed as CSV"):
        load_bytes(b"a,b\n1,2\n3,4,5,6\n", "ragged.csv")


# --------------------------------------------------------------------------------------------------
# JSONL (BEIR)
# --------------------------------------------------------------------------------------------------


def _jsonl(records: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def test_beir_jsonl_one_document_per_line() -> None:
    records: list[dict[str, object]] = [
        {"_id": "d1", "title": "Vitamin D", "text": "Vitamin D helps bones.", "metadata": {"year": 2020}},
        {"_id": 42, "title": "", "text": "Untitled text."},
    ]
    data = _jsonl(records)
    documents = list(load_bytes(data, "corpus.jsonl"))

    assert [document.external_id for document in documents] == ["d1", "42"]
    assert [document.source_name for document in documents] == ["corpus.jsonl#d1", "corpus.jsonl#42"]
    assert [document.title for document in documents] == ["Vitamin D", "42"]
    assert [document.sections[0].text for document in documents] == [
        "Vitamin D helps bones.",
        "Untitled text.",
    ]
    assert documents[0].metadata == {"year": 2020}
    first_line = data.split(b"\n")[0]
    assert documents[0].content_sha256 == hashlib.sha256(first_line).hexdigest()
    assert documents[0].size_bytes == len(first_line)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "line 2 is not valid JSON"),
        ('{"title": "no id", "text": "t"}', 'line 2 has no "_id"'),
        ('{"_id": "x"}', 'line 2 has no "text"'),
        ('["a", "list"]', "line 2 is not a JSON object"),
    ],
)
def test_jsonl_bad_line_yields_nothing(bad_line: str, message: str) -> None:
    data = (json.dumps({"_id": "d1", "text": "good"}) + "\n" + bad_line + "\n").encode()
    yielded = []
    with pytest.raises(CorruptDocument, match=message):
        yielded.extend(load_bytes(data, "corpus.jsonl"))
    assert yielded == []


def test_jsonl_repeated_id_keeps_both_documents() -> None:
    data = (
        json.dumps({"_id": "d1", "text": "first"}) + "\n" + json.dumps({"_id": "d1", "text": "second"}) + "\n"
    ).encode()
    first, second = load_bytes(data, "corpus.jsonl")
    assert (first.source_name, second.source_name) == ("corpus.jsonl#d1", "corpus.jsonl#d1@line2")
    assert first.external_id == second.external_id == "d1"
    assert second.metadata == {"repeats_id_of_line": 1}


@pytest.mark.skipif(not SCIFACT_CORPUS.exists(), reason="SciFact corpus not present")
def test_scifact_corpus_loads_fast() -> None:
    started = time.perf_counter()
    documents = list(load_path(SCIFACT_CORPUS))
    elapsed = time.perf_counter() - started

    assert len(documents) == 5183
    assert len({document.external_id for document in documents}) == 5183
    assert all(document.sections[0].text for document in documents)
    assert elapsed < 2.0


# --------------------------------------------------------------------------------------------------
# iter_files
# --------------------------------------------------------------------------------------------------


def test_iter_files_walks_folders_sorted_and_skips_hidden(tmp_path: Path) -> None:
    files = [
        "docs/b.md",
        "docs/a.txt",
        "docs/sub/c.pdf",
        "docs/sub/deeper/d.csv",
        "docs/notes.xyz",
        "docs/.hidden.txt",
        "docs/.git/config.txt",
        "other/e.html",
    ]
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    single = tmp_path / "other" / "e.html"

    found = list(iter_files([tmp_path / "docs", single, tmp_path / "docs" / "a.txt"]))

    assert [path.relative_to(tmp_path).as_posix() for path in found] == [
        "docs/a.txt",
        "docs/b.md",
        "docs/notes.xyz",  # unsupported files are yielded; the caller reports them
        "docs/sub/c.pdf",
        "docs/sub/deeper/d.csv",
        "other/e.html",
    ]


def test_iter_files_yields_a_hidden_file_given_directly(tmp_path: Path) -> None:
    hidden = tmp_path / ".env.txt"
    hidden.write_text("x")
    os.mkdir(tmp_path / "empty")
    assert list(iter_files([hidden, tmp_path / "empty"])) == [hidden]
