"""Text out of HTML and PDF files, for `ingest`.

HTML: markup stripped with the standard library's `html.parser`; `script`, `style` and other
non-content elements dropped; `<h1>`..`<h6>` become Markdown `#` headings so that `chunk`
builds the section path from them as it does for Markdown; block elements end paragraphs.
PDF: `pypdf` text extraction, pages separated by blank lines.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_BLOCK = {"p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "ul", "ol",
          "li", "table", "tr", "pre", "blockquote", "dl", "dt", "dd", "figure", "figcaption", "form",
          "br", "hr", "title"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.heading: list[str] | None = None
        self.title: list[str] | None = None
        self.page_title = ""

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _VOID:
            if tag in ("br", "hr"):
                self.parts.append("\n")
            return
        if tag in _SKIP:
            self.skip_depth += 1
            if tag == "head":
                return
        if tag == "title":
            self.title = []
        if tag in _HEADINGS and not self.skip_depth:
            self.parts.append("\n\n")
            self.heading = []
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.title is not None:
            self.page_title = " ".join("".join(self.title).split())
            self.title = None
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag in _HEADINGS and self.heading is not None:
            text = " ".join("".join(self.heading).split())
            if text:
                self.parts.append(f"{'#' * _HEADINGS[tag]} {text}\n\n")
            self.heading = None
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.title is not None:
            self.title.append(data)
        if self.skip_depth:
            return
        if self.heading is not None:
            self.heading.append(data)
        else:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """Return (page title, body text with `#` headings and blank lines between blocks)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return parser.page_title, text


def pdf_to_text(path: Path) -> tuple[str, str]:
    """Return (document title from the PDF metadata or '', text of all pages).

    Raises whatever pypdf raises for a damaged file; the caller reports it with the path.
    """
    from pypdf import PdfReader  # imported on use: about 0.15 s, paid only when a source holds PDFs

    reader = PdfReader(str(path), strict=False)
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    title = ""
    try:
        meta = reader.metadata
        title = (meta.title or "").strip() if meta else ""
    except Exception:  # noqa: BLE001 - a broken info dictionary must not lose the text
        title = ""
    return title, "\n\n".join(p for p in pages if p)
