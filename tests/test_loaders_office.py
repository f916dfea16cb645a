"""PPTX, XLSX, ODS, EPUB and EML loaders on files built here with the libraries that write them."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pytest

from rag.errors import CorruptDocument, EmptyDocument, EncryptedDocument, InputLimitExceeded
from rag.loaders import SUPPORTED_EXTENSIONS, load_bytes
from rag.models import LoadedDocument


def _one(data: bytes, name: str) -> LoadedDocument:
    documents = list(load_bytes(data, name))
    assert len(documents) == 1
    return documents[0]


# --- PPTX -----------------------------------------------------------------------------------------


def make_pptx(slides: list[tuple[str, str, str]]) -> bytes:
    """A presentation with one title-and-content slide per ``(title, body, notes)``."""
    from pptx import Presentation

    presentation = Presentation()
    layout = presentation.slide_layouts[1]
    for title, body, notes in slides:
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    presentation.core_properties.title = "Quarterly review"
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def test_pptx_slides_are_pages_with_titles_as_headings_and_notes() -> None:
    data = make_pptx(
        [
            ("Revenue", "Revenue grew by twelve percent", "Mention the Lisbon office"),
            ("Empty slide", "", ""),
            ("Hiring", "We hired four engineers", ""),
        ]
    )
    document = _one(data, "review.pptx")
    assert document.title == "Quarterly review"
    assert document.page_count == 3
    assert [(s.page, s.heading_path) for s in document.sections] == [
        (1, ("Revenue",)),
        (2, ("Empty slide",)),
        (3, ("Hiring",)),
    ]
    first = document.sections[0].text
    assert "Revenue grew by twelve percent" in first and "Notes:\nMention the Lisbon office" in first
    assert "We hired four engineers" in document.sections[2].text
    assert document.media_type.endswith("presentationml.presentation")


def test_pptx_table_rows_are_read() -> None:
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = "Prices"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for row, values in enumerate([("Item", "Price"), ("Lamp", "12 EUR")]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    buffer = io.BytesIO()
    presentation.save(buffer)
    document = _one(buffer.getvalue(), "prices.pptx")
    assert "Item | Price\nLamp | 12 EUR" in document.sections[0].text


# --- XLSX / ODS -----------------------------------------------------------------------------------


def make_workbook(extension: str) -> bytes:
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="odf" if extension == ".ods" else "openpyxl") as writer:
        pd.DataFrame({"City": ["Lisbon", "Porto"], "Population": [545000, 232000]}).to_excel(
            writer, sheet_name="Cities", index=False
        )
        pd.DataFrame({"River": ["Douro"], "Length km": [897]}).to_excel(
            writer, sheet_name="Rivers", index=False
        )
    return buffer.getvalue()


@pytest.mark.parametrize("extension", [".xlsx", ".ods"])
def test_spreadsheet_sheets_are_tables_with_the_sheet_as_heading(extension: str) -> None:
    document = _one(make_workbook(extension), f"geo{extension}")
    texts = [(s.heading_path, s.text) for s in document.sections]
    assert texts == [
        (("Cities",), "City: Lisbon; Population: 545000"),
        (("Cities",), "City: Porto; Population: 232000"),
        (("Rivers",), "River: Douro; Length km: 897"),
    ]
    assert document.metadata["sheets"][0] == {"name": "Cities", "columns": ["City", "Population"], "rows": 2}


def test_truncated_xlsx_is_corrupt() -> None:
    data = make_workbook(".xlsx")
    with pytest.raises(CorruptDocument, match=r"broken\.xlsx"):
        load_bytes(data[: len(data) // 2], "broken.xlsx")


def test_password_protected_workbook_is_refused() -> None:
    # Office writes an encrypted workbook as a Compound File Binary container, whatever the extension.
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2048
    with pytest.raises(EncryptedDocument, match="password protected"):
        load_bytes(data, "locked.xlsx")


def test_empty_workbook_is_empty() -> None:
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        pd.DataFrame({"Only": []}).to_excel(writer, sheet_name="Blank", index=False)
    with pytest.raises(EmptyDocument, match="no sheet has a row"):
        load_bytes(buffer.getvalue(), "blank.xlsx")


def test_ods_repeat_bomb_is_refused_before_pandas_expands_it() -> None:
    data = make_workbook(".ods")
    source = zipfile.ZipFile(io.BytesIO(data))
    content = source.read("content.xml").decode()
    # One filled cell that claims to repeat a billion times: pandas would build a list of 10^9 values.
    bomb = content.replace(
        "<table:table-cell ", '<table:table-cell table:number-columns-repeated="1000000000" ', 1
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, bomb if item.filename == "content.xml" else source.read(item.filename))
    with pytest.raises(InputLimitExceeded, match="1,000,000,000 repeated columns"):
        load_bytes(out.getvalue(), "bomb.ods")


# --- EPUB -----------------------------------------------------------------------------------------


def make_epub(chapters: list[tuple[str, str]]) -> bytes:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title("Lighthouses of Portugal")
    book.set_language("en")
    book.add_author("Ana Faria")
    items = []
    for number, (heading, body) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=heading, file_name=f"chapter{number}.xhtml", lang="en")
        item.content = f"<html><body><h1>{heading}</h1><h2>Overview</h2><p>{body}</p></body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    return buffer.getvalue()


def test_epub_chapters_in_spine_order_with_headings() -> None:
    data = make_epub(
        [("Cabo da Roca", "The westernmost lighthouse of Europe."), ("Berlengas", "An island light.")]
    )
    document = _one(data, "lighthouses.epub")
    assert document.title == "Lighthouses of Portugal"
    assert document.metadata["author"] == "Ana Faria"
    bodies = [(s.heading_path, s.text) for s in document.sections if "light" in s.text]
    assert bodies == [
        (("Cabo da Roca", "Overview"), "The westernmost lighthouse of Europe."),
        (("Berlengas", "Overview"), "An island light."),
    ]


def test_epub_with_drm_is_refused() -> None:
    data = make_epub([("One", "Text.")])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr("META-INF/encryption.xml", "<encryption/>")
    with pytest.raises(EncryptedDocument, match="DRM"):
        load_bytes(out.getvalue(), "locked.epub")


def test_epub_that_is_not_a_zip_is_corrupt() -> None:
    with pytest.raises(CorruptDocument, match="cannot be read as EPUB"):
        load_bytes(b"this is plain text, not a book", "fake.epub")


def test_epub_declaring_entities_is_refused() -> None:
    data = make_epub([("One", "Text.")])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename.endswith("chapter1.xhtml"):
                body = b'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY a "aaaaaaaaaa">]>' + body
            target.writestr(item, body)
    with pytest.raises(CorruptDocument, match="declares a DTD or entities"):
        load_bytes(out.getvalue(), "laughs.epub")


# --- EML ------------------------------------------------------------------------------------------


def make_eml(*, html: bool = False, attachment: bool = True) -> bytes:
    message = EmailMessage()
    message["Subject"] = "Lighthouse maintenance schedule"
    message["From"] = "Ana Faria <ana@example.org>"
    message["To"] = "ops@example.org"
    message["Date"] = "Tue, 01 Dec 2026 09:30:00 +0000"
    message.set_content("The lamp at Cabo da Roca is serviced every March.\n\nRegards,\nAna")
    if html:
        message.add_alternative(
            "<html><body><p>The lamp at <b>Cabo da Roca</b> is serviced.</p></body></html>", subtype="html"
        )
    if attachment:
        message.add_attachment(
            b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="schedule.pdf"
        )
    return message.as_bytes()


def test_eml_headers_become_title_and_metadata_and_attachments_are_listed() -> None:
    document = _one(make_eml(), "maintenance.eml")
    assert document.title == "Lighthouse maintenance schedule"
    assert document.metadata["from"] == "Ana Faria <ana@example.org>"
    assert document.metadata["date"] == "Tue, 01 Dec 2026 09:30:00 +0000"
    assert document.metadata["attachments"] == [
        {"filename": "schedule.pdf", "content_type": "application/pdf", "size_bytes": 13}
    ]
    text = "\n\n".join(section.text for section in document.sections)
    assert text.startswith("From: Ana Faria <ana@example.org>\nTo: ops@example.org\nDate: ")
    assert "The lamp at Cabo da Roca is serviced every March." in text
    assert text.endswith("Attachments: schedule.pdf")


def test_eml_prefers_plain_text_and_reads_an_html_only_body() -> None:
    both = _one(make_eml(html=True, attachment=False), "both.eml")
    assert any("serviced every March" in s.text for s in both.sections)
    message = EmailMessage()
    message["Subject"] = "HTML only"
    message["From"] = "a@example.org"
    message.set_content(
        "<html><body><h1>Notice</h1><p>The tower is closed.</p></body></html>", subtype="html"
    )
    html_only = _one(message.as_bytes(), "html.eml")
    assert [(s.heading_path, s.text) for s in html_only.sections][-1] == (("Notice",), "The tower is closed.")


def test_file_that_is_not_an_email_is_corrupt() -> None:
    with pytest.raises(CorruptDocument, match="does not look like an email"):
        load_bytes(b"just some words\nand more words", "notes.eml")


def test_new_formats_are_supported_extensions() -> None:
    assert {
        ".pptx",
        ".xlsx",
        ".ods",
        ".epub",
        ".eml",
        ".png",
        ".jpg",
        ".jpeg",
        ".tif",
        ".tiff",
    } <= SUPPORTED_EXTENSIONS


# --- bad, encrypted and empty files -------------------------------------------------------------


def test_bad_pptx_files_get_the_reason() -> None:
    from pptx import Presentation

    data = make_pptx([("Title", "Body", "")])
    with pytest.raises(CorruptDocument, match=r"cut\.pptx cannot be read as PPTX"):
        load_bytes(data[: len(data) // 2], "cut.pptx")
    with pytest.raises(CorruptDocument, match="old .ppt file or password protected"):
        load_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2048, "old.pptx")
    empty = io.BytesIO()
    Presentation().save(empty)
    with pytest.raises(EmptyDocument, match="no text found"):
        load_bytes(empty.getvalue(), "empty.pptx")


def test_epub_without_text_is_empty() -> None:
    with pytest.raises(EmptyDocument, match="no text found"):
        load_bytes(make_epub([("", "")]), "blank.epub")


def test_eml_with_no_subject_and_no_body_is_empty() -> None:
    message = EmailMessage()
    message["From"] = "a@example.org"
    with pytest.raises(EmptyDocument, match="no subject and no text body"):
        load_bytes(message.as_bytes(), "blank.eml")


# --- review findings (issue 13): bounded sheets, header row, dates, merged cells -------------------


def _xlsx(build) -> bytes:  # type: ignore[no-untyped-def]
    import openpyxl

    workbook = openpyxl.Workbook()
    build(workbook.active)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("far", ["XFD1", "A1048576"])
def test_xlsx_far_away_cell_is_read_in_bounded_memory(far: str) -> None:
    import tracemalloc

    def build(sheet) -> None:  # type: ignore[no-untyped-def]
        sheet["A1"], sheet["B1"] = "Name", "Town"
        sheet["A2"], sheet["B2"] = "Ana", "Porto"
        sheet[far] = "far"

    data = _xlsx(build)
    assert len(data) < 40_000
    tracemalloc.start()
    try:
        document = _one(data, "far.xlsx")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # pandas padded every row to column 16,384 / filled 1,048,576 rows: gigabytes before the fix.
    assert peak < 64 * 1024 * 1024
    assert document.sections[0].text == "Name: Ana; Town: Porto"


def test_xlsx_header_is_the_first_non_empty_row_and_dates_are_dates() -> None:
    import datetime as dt

    def build(sheet) -> None:  # type: ignore[no-untyped-def]
        sheet["B3"], sheet["C3"] = "Day", "Event"
        sheet["B4"], sheet["C4"] = dt.datetime(2026, 12, 1), "Lamp serviced"
        sheet["B5"], sheet["C5"] = dt.datetime(2026, 12, 2, 9, 30), "Inspection"

    document = _one(_xlsx(build), "log.xlsx")
    assert [s.text for s in document.sections] == [
        "Day: 2026-12-01; Event: Lamp serviced",
        "Day: 2026-12-02 09:30:00; Event: Inspection",
    ]
    assert document.metadata["sheets"][0]["columns"] == ["Day", "Event"]


def test_xlsx_merged_cells_fill_their_range() -> None:
    def build(sheet) -> None:  # type: ignore[no-untyped-def]
        sheet["A1"], sheet["B1"], sheet["C1"] = "Region", "Town", "Beds"
        sheet["A2"], sheet["B2"], sheet["C2"] = "North", "Porto", 12
        sheet["B3"], sheet["C3"] = "Braga", 7
        sheet.merge_cells("A2:A3")

    document = _one(_xlsx(build), "merged.xlsx")
    assert [s.text for s in document.sections] == [
        "Region: North; Town: Porto; Beds: 12",
        "Region: North; Town: Braga; Beds: 7",
    ]


def test_xlsx_with_too_many_real_cells_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.loaders import guards

    monkeypatch.setattr(guards, "MAX_CSV_CELLS", 50)

    def build(sheet) -> None:  # type: ignore[no-untyped-def]
        for row in range(1, 30):
            sheet.append([f"r{row}a", f"r{row}b"])

    with pytest.raises(InputLimitExceeded, match="cells with a value"):
        load_bytes(_xlsx(build), "many.xlsx")


def test_ods_repeated_rows_times_repeated_columns_is_bounded() -> None:
    data = make_workbook(".ods")
    source = zipfile.ZipFile(io.BytesIO(data))
    content = source.read("content.xml").decode()
    # Each count under its own limit (20,000 rows, 1,000 columns), their product 20 million cells.
    start = content.index("<table:table-row", content.index("<table:table-row") + 1)
    end = content.index("</table:table-row>", start) + len("</table:table-row>")
    row = (
        '<table:table-row table:number-rows-repeated="20000">'
        '<table:table-cell table:number-columns-repeated="1000" office:value-type="string">'
        "<text:p>x</text:p></table:table-cell></table:table-row>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            body = content[:start] + row + content[end:] if item.filename == "content.xml" else None
            target.writestr(item, body if body is not None else source.read(item.filename))
    with pytest.raises(InputLimitExceeded, match="repeated rows x repeated columns"):
        load_bytes(out.getvalue(), "product.ods")


def _mail_head(extra: str = "") -> bytes:
    return (
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: Tower\r\nMIME-Version: 1.0\r\n" + extra
    ).encode()


def test_eml_second_inline_text_part_and_attached_message_are_read() -> None:
    inner = EmailMessage()
    inner["Subject"] = "Original report"
    inner["From"] = "c@example.org"
    inner.set_content("The north lamp flickers at dusk.")
    outer = EmailMessage()
    outer["Subject"], outer["From"], outer["To"] = "Fwd: report", "a@example.org", "b@example.org"
    outer.set_content("See the report below.")
    outer.add_attachment("Second note: the stairs were painted.", disposition="inline")
    outer.add_attachment(inner)
    text = "\n\n".join(s.text for s in _one(outer.as_bytes(), "fwd.eml").sections)
    assert "See the report below." in text
    assert "Second note: the stairs were painted." in text
    assert "Attached message: Original report" in text and "The north lamp flickers at dusk." in text


def test_eml_unknown_8bit_charset_is_decoded_with_a_fallback() -> None:
    body = "O farol de Sagres é inspeccionado em Março.".encode()
    data = (
        _mail_head('Content-Type: text/plain; charset="unknown-8bit"\r\nContent-Transfer-Encoding: 8bit\r\n')
        + b"\r\n"
        + body
    )
    text = _one(data, "8bit.eml").sections[-1].text
    assert text == "O farol de Sagres é inspeccionado em Março."


def test_eml_deeply_nested_messages_are_a_corrupt_document() -> None:
    data = b"Hello, innermost."
    for _ in range(2_000):
        data = b"Subject: s\r\nFrom: a@example.org\r\nContent-Type: message/rfc822\r\n\r\n" + data
    with pytest.raises(CorruptDocument, match=r"nested\.eml"):
        load_bytes(data, "nested.eml")


@pytest.mark.parametrize(
    "header",
    [
        'To: =?utf-8?q?broken?= <@>, ,"\r\n',
        'To: undisclosed-recipients:;\r\nFrom: "\r\n',
        "Message-ID: <\r\nTo: a@\r\n",
        "From: a@example.org\r\nTo: =?x-unknown?b?////?= <a@b>\r\n",
    ],
)
def test_eml_malformed_headers_never_crash(header: str) -> None:
    data = ("Subject: Tower\r\n" + header + "\r\nThe lamp works.").encode()
    try:
        document = _one(data, "bad-header.eml")
    except CorruptDocument as exc:
        assert "bad-header.eml" in str(exc)
    else:
        assert document.title == "Tower"


def test_eml_boundary_bomb_is_refused_before_parsing() -> None:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(5_000))
    data = _mail_head('Content-Type: multipart/mixed; boundary="b"\r\n') + b"\r\n" + parts + b"--b--\r\n"
    with pytest.raises(InputLimitExceeded, match="MIME boundary lines"):
        load_bytes(data, "parts.eml")
