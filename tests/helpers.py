"""Small file generators shared by tests (every test file is generated, nothing is checked in)."""

from __future__ import annotations

import io


def make_pdf(pages: list[str]) -> bytes:
    """A PDF with one page per string (fpdf2), each page's text on its own page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def make_blank_pdf() -> bytes:
    """A one-page PDF with a drawn rectangle and no text layer."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 50, 50)
    return bytes(pdf.output())


def make_encrypted_pdf(text: str = "secret text") -> bytes:
    """A PDF protected with a user password (RC4-128, no extra crypto dependency)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([text]))))
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def assert_bm25_statistics_match_recount(engine) -> None:
    """The incrementally maintained BM25 statistics equal a recomputation from the chunks."""
    with engine.db.connection() as conn:
        cid = engine.collection().id
        stored = dict(
            conn.execute(
                "SELECT lexeme, doc_freq FROM lexeme_stats WHERE collection_id = %(c)s AND doc_freq > 0",
                {"c": cid},
            ).fetchall()
        )
        recomputed = dict(
            conn.execute(
                "SELECT u.lexeme, count(*) FROM chunks ch, unnest(ch.lexemes) u WHERE ch.collection_id = %(c)s GROUP BY 1",
                {"c": cid},
            ).fetchall()
        )
        totals = conn.execute(
            "SELECT chunk_count, lexeme_total FROM collections WHERE id = %(c)s", {"c": cid}
        ).fetchone()
        actual = conn.execute(
            "SELECT count(*), coalesce(sum(lexeme_count), 0) FROM chunks WHERE collection_id = %(c)s",
            {"c": cid},
        ).fetchone()
    assert stored == recomputed
    assert tuple(totals) == tuple(actual)
