"""Peak memory and time of loading hostile files (and the largest accepted ones), one process each.

Each case is built in a temporary folder, then loaded by ``rag.loaders.load_path`` in a fresh
Python process that imports the loaders' libraries first, resets the kernel's peak-RSS counter
(``/proc/self/clear_refs``, Linux) and reports the peak resident memory added by the load
(``VmHWM`` after minus ``VmRSS`` before), the wall time and the outcome (the error class and
message, or the number of documents). The issue's figure to beat: a 1.05 MB DOCX expanding to
1 GiB took 34.6 s and 2.68 GB RSS before rejection; the ceiling is +300 MB.

    PYTHONPATH=. .venv/bin/python benchmarks/loader_bombs.py            # every case
    PYTHONPATH=. .venv/bin/python benchmarks/loader_bombs.py docx_bomb  # some cases

Prints one line per case and a JSON summary (``--json PATH`` writes it to a file). Exits 1 when
a hostile case is accepted or goes over the ceiling.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

MIB = 1024 * 1024
CEILING_MB = 300.0

_CHILD = r"""
import json, sys, time
from pathlib import Path
import docx, pandas, bs4, lxml.etree, pypdf, charset_normalizer  # the libraries, loaded before the baseline
import langchain_text_splitters
from rag.loaders import LoadOptions, load_path

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024  # kB -> bytes
    raise KeyError(key)

path = Path(sys.argv[1])
options = LoadOptions(csv_mode=sys.argv[2])
Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
before = status("VmRSS")
started = time.perf_counter()
try:
    documents = list(load_path(path, options))
    outcome = f"accepted: {len(documents)} document(s)"
    accepted = True
except Exception as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:160]}"
    accepted = False
seconds = time.perf_counter() - started
peak = status("VmHWM")
print(json.dumps({"accepted": accepted, "outcome": outcome, "seconds": round(seconds, 2),
                  "peak_added_mb": round((peak - before) / 1e6, 1)}))
"""


def _docx_bytes(document_xml_writer: Callable[[io.RawIOBase], None], extra_members: int = 0) -> bytes:
    """A minimal DOCX whose word/document.xml is streamed by ``document_xml_writer``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            "</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            "</Relationships>",
        )
        with archive.open("word/document.xml", "w", force_zip64=True) as stream:
            document_xml_writer(stream)
        for number in range(extra_members):
            archive.writestr(f"customXml/item{number}.bin", b"")
    return buffer.getvalue()


_W = b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
_W_END = b"</w:body></w:document>"
_PARAGRAPH = b"<w:p><w:r><w:t>lorem ipsum dolor sit amet</w:t></w:r></w:p>"


def _paragraphs(total_bytes: int) -> Callable[[io.RawIOBase], None]:
    def write(stream: io.RawIOBase) -> None:
        stream.write(_W)
        block = _PARAGRAPH * (MIB // len(_PARAGRAPH))
        for _ in range(total_bytes // len(block)):
            stream.write(block)
        stream.write(_W_END)

    return write


def docx_bomb(folder: Path) -> Path:
    """1 GiB of XML (the issue's bomb: ~1 MB on disk)."""
    path = folder / "bomb.docx"
    path.write_bytes(_docx_bytes(_paragraphs(1024 * MIB)))
    return path


def docx_members(folder: Path) -> Path:
    """A DOCX with 20,000 empty members (central-directory bomb)."""
    path = folder / "members.docx"
    path.write_bytes(_docx_bytes(_paragraphs(MIB), extra_members=20_000))
    return path


def docx_largest_accepted(folder: Path) -> Path:
    """A DOCX just under the tag limit (4 MiB of XML, ~400,000 tags): accepted."""
    path = folder / "large.docx"
    path.write_bytes(_docx_bytes(_paragraphs(4 * MIB)))
    return path


def html_bomb(folder: Path) -> Path:
    """40 MiB of empty tags (~6 million elements)."""
    path = folder / "bomb.html"
    path.write_bytes(b"<html><body>" + b"<b></b>" * (40 * MIB // 7) + b"</body></html>")
    return path


def html_largest_accepted(folder: Path) -> Path:
    """HTML with 290,000 tags (limit 300,000): accepted."""
    path = folder / "large.html"
    path.write_bytes(b"<html><body>" + b"<p>lorem ipsum dolor sit amet</p>" * 145_000 + b"</body></html>")
    return path


def _write_csv(path: Path, rows: int) -> Path:
    with path.open("w") as out:
        out.write("id,name,notes\n")
        for number in range(rows):
            out.write(f"{number},name {number},some notes about row {number}\n")
    return path


def csv_file_mode(folder: Path) -> Path:
    """The issue's 1M-line CSV, loaded in file mode."""
    return _write_csv(folder / "million.csv", 1_000_000)


def csv_rows_largest_accepted(folder: Path) -> Path:
    """A 100,000-row CSV (the row limit) in rows mode: accepted, one document per row."""
    return _write_csv(folder / "rows.csv", 100_000)


def jsonl_lines(folder: Path) -> Path:
    """1M tiny JSONL lines (over the 100,000-line limit)."""
    path = folder / "million.jsonl"
    with path.open("w") as out:
        for number in range(1_000_000):
            out.write(f'{{"_id": "{number}", "text": "t"}}\n')
    return path


def pdf_flate_bomb(folder: Path) -> Path:
    """A one-page PDF whose content stream inflates to 1 GiB of text-showing operators."""
    operator = b"BT /F1 12 Tf 72 720 Td (lorem ipsum) Tj ET\n"
    compressor = zlib.compressobj(9)
    block = operator * (MIB // len(operator))
    parts = [compressor.compress(block) for _ in range(1024)]
    content = b"".join(parts) + compressor.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    path = folder / "bomb.pdf"
    path.write_bytes(out.getvalue())
    return path


def text_over_char_limit(folder: Path) -> Path:
    """A 49 MiB plain-text file (under the 50 MiB size limit, over the 20M-character limit)."""
    path = folder / "large.txt"
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
    path.write_bytes(line * (49 * MIB // len(line)))
    return path


# name -> (builder, CSV mode, hostile: must be refused)
CASES: dict[str, tuple[Callable[[Path], Path], str, bool]] = {
    "docx_bomb": (docx_bomb, "file", True),
    "docx_members": (docx_members, "file", True),
    "docx_largest_accepted": (docx_largest_accepted, "file", False),
    "html_bomb": (html_bomb, "file", True),
    "html_largest_accepted": (html_largest_accepted, "file", False),
    "csv_1m_file_mode": (csv_file_mode, "file", True),
    "csv_rows_largest_accepted": (csv_rows_largest_accepted, "rows", False),
    "jsonl_1m_lines": (jsonl_lines, "file", True),
    "pdf_flate_bomb": (pdf_flate_bomb, "file", True),
    "text_over_char_limit": (text_over_char_limit, "file", True),
}


def run_case(name: str, folder: Path) -> dict:
    """Build case ``name`` in ``folder`` and load it in a child process; returns its measurements."""
    builder, csv_mode, hostile = CASES[name]
    path = builder(folder)
    size = path.stat().st_size
    try:
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), csv_mode], capture_output=True, text=True, timeout=900
        )
    except subprocess.TimeoutExpired:
        return {"case": name, "file_mb": round(size / 1e6, 2), "hostile": hostile, "error": "over 900 s"}
    finally:
        path.unlink()
    if child.returncode != 0:  # the load crashed the process
        return {
            "case": name,
            "file_mb": round(size / 1e6, 2),
            "hostile": hostile,
            "error": child.stderr[-500:],
        }
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return {"case": name, "file_mb": round(size / 1e6, 2), "hostile": hostile, **result}


def main() -> int:
    """Run the chosen cases (all by default) and print the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"cases to run (default all): {', '.join(CASES)}")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    results = []
    failed = False
    unknown = [name for name in args.cases if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    with tempfile.TemporaryDirectory(prefix="loader-bombs-") as tmp:
        for name in args.cases or list(CASES):
            result = run_case(name, Path(tmp))
            results.append(result)
            bad = "error" in result or (
                result["hostile"] and (result["accepted"] or result["peak_added_mb"] > CEILING_MB)
            )
            failed |= bad
            print(
                f"{name:28} {result.get('file_mb', 0):8.2f} MB  "
                f"{result.get('seconds', float('nan')):6.2f} s  +{result.get('peak_added_mb', float('nan')):7.1f} MB  "
                f"{'FAIL ' if bad else ''}{result.get('outcome', result.get('error'))}",
                flush=True,
            )
    summary = json.dumps({"ceiling_mb": CEILING_MB, "results": results}, indent=2)
    if args.json:
        args.json.write_text(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
