"""ingest reads HTML and PDF, drops near-duplicates, and records its normalization."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spladeforge.chunking import chunk_document
from spladeforge.config import ChunkConfig, DataConfig
from spladeforge.errors import InputError
from spladeforge.io import read_jsonl
from spladeforge.stages import ingest

BODY = ("Sparse retrieval maps text to weighted vocabulary terms so that an inverted index can "
        "serve it. ") * 4


def minimal_pdf(lines: list[str], title: str = "") -> bytes:
    """A small valid PDF (one page, Helvetica text) with a correct cross-reference table."""
    stream = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj T*" for line in lines
    ) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return out


def _run(tmp_path: Path, src: Path, **cfg) -> tuple[dict, list[dict]]:
    out = tmp_path / "out" / "documents.jsonl"
    summary = ingest.run(DataConfig(source=str(src), min_chars=50, **cfg), out)
    return summary, read_jsonl(out)


HTML = """<!doctype html><html><head><title>Page Title</title>
<style>body { color: red; } .secret { display: none }</style>
<script>var tracking = "do not index me";</script></head>
<body><nav>Home</nav><h1>Sparse &amp; Dense</h1><p>Intro paragraph about retrieval.</p>
<h2>Index <em>layout</em></h2><p>{body}</p><ul><li>first item</li><li>second item</li></ul>
</body></html>""".replace("{body}", BODY * 4)


def test_html_markup_stripped_headings_become_sections(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "page.html").write_text(HTML)
    _, docs = _run(tmp_path, src)
    text = docs[0]["text"]
    assert "tracking" not in text and "color: red" not in text, "script/style content leaked"
    assert "<" not in text and "&amp;" not in text
    assert "# Sparse & Dense" in text and "## Index layout" in text
    assert "first item\n\nsecond item" in text
    assert docs[0]["title"] == "Sparse & Dense"  # the h1, like a Markdown # heading
    chunks = chunk_document(docs[0], ChunkConfig(size=500, overlap=75))
    assert chunks[-1]["section"] == "Sparse & Dense > Index layout"


def test_html_without_h1_takes_the_title_element(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "page.htm").write_text(f"<html><head><title>Only Title</title></head><body><p>{BODY}</p></body></html>")
    _, docs = _run(tmp_path, src)
    assert docs[0]["title"] == "Only Title" and docs[0]["id"] == "page.htm"


def test_pdf_text_and_title(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    lines = ["Inverted indexes store postings lists for every term.",
             "SPLADE expands documents with related vocabulary terms."] * 2
    (src / "paper.pdf").write_bytes(minimal_pdf(lines, title="Sparse Paper"))
    _, docs = _run(tmp_path, src)
    assert docs[0]["title"] == "Sparse Paper"
    assert "postings lists" in docs[0]["text"] and "SPLADE expands" in docs[0]["text"]


@pytest.mark.parametrize("data", [b"%PDF-1.4\n1 0 obj garbage\n", b"not a pdf at all", b""])
def test_corrupt_pdf_named_or_skipped(tmp_path, data):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "broken.pdf").write_bytes(data)
    (src / "good.txt").write_text(BODY)
    with pytest.raises(InputError, match=r"broken\.pdf: not a readable PDF"):
        _run(tmp_path, src)
    assert not (tmp_path / "out" / "documents.jsonl").exists()
    summary, docs = _run(tmp_path, src, on_error="skip")
    assert [d["id"] for d in docs] == ["good.txt"] and summary["skipped_files"] == 1


def test_binary_html_is_reported(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "x.html").write_bytes(b"\x00\x01\x02" * 50)
    with pytest.raises(InputError, match=r"x\.html: binary data"):
        _run(tmp_path, src)


def test_near_duplicates_dropped_and_counted(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    words = [f"term{i}" for i in range(400)]
    base = " ".join(words)
    (src / "a.txt").write_text(base)
    (src / "b.txt").write_text(base.replace("term7 ", "changed ") + " trailing")  # Jaccard ~0.98
    (src / "c.txt").write_text(" ".join(words[:200] + [f"other{i}" for i in range(200)]))  # ~0.33
    summary, docs = _run(tmp_path, src)
    assert [d["id"] for d in docs] == ["a.txt", "c.txt"]
    assert summary["dropped"] == {"near_duplicate": 1}
    meta = json.loads((tmp_path / "out" / "documents.meta.json").read_text())
    assert meta["near_duplicates"]["examples"][0]["dropped"] == "b.txt"
    assert meta["near_duplicates"]["examples"][0]["kept"] == "a.txt"
    _, all_docs = _run(tmp_path, src, near_duplicate_threshold=None)
    assert len(all_docs) == 3


def test_meta_records_normalization(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.txt").write_text(BODY)
    summary, _ = _run(tmp_path, src, lowercase=True)
    meta = json.loads(Path(summary["meta"]).read_text())
    assert Path(summary["meta"]).name == "documents.meta.json"
    assert meta["normalization"]["unicode"] == "NFC" and meta["normalization"]["lowercase"] is True
    assert not list((tmp_path / "out").glob(".*tmp*")), "temporary file left behind"
