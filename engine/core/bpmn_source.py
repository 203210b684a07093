"""BPMN files as bytes: one canonical encoding, the hardened XML parse, the content hash.

Every BPMN file the engine reads goes through :func:`load` first, so lint, deploy, the spec cache and
the admin's editor see the same bytes parse the same way whatever the file's encoding: an XML
declaration naming ISO-8859-1, UTF-16 with a byte-order mark or UTF-8 with one are decoded as the
XML parser decodes them and re-encoded as UTF-8 with ``encoding="UTF-8"`` in the declaration. The
process version stores that text.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from engine.core.errors import DefinitionError, Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

_SAFE_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                            huge_tree=False, remove_pis=True)

#: the XML declaration's encoding pseudo-attribute
_DECLARED_ENCODING = re.compile(r"""^(\s*<\?xml\b[^>]*?\bencoding\s*=\s*)(["'])[^"']*\2""")

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class SourceFile:
    """A BPMN file to lint or deploy: its name (``aims_aiia.bpmn``) and its bytes."""

    name: str
    data: bytes

    @classmethod
    def read(cls, path: Path) -> SourceFile:
        return cls(path.name, path.read_bytes())

    @classmethod
    def from_text(cls, name: str, text: str) -> SourceFile:
        """A file from text already decoded (an admin's edit, a stored version): encoded as UTF-8, and
        an encoding named in its XML declaration changed to match."""
        return cls(name, utf8_declared(text.lstrip("\ufeff")).encode("utf-8"))


def utf8_declared(text: str) -> str:
    """``text`` with the encoding of its XML declaration (if it names one) set to UTF-8."""
    return _DECLARED_ENCODING.sub(r'\1"UTF-8"', text, count=1)


def sha256_of(xml: bytes, form_schemas: dict[str, Any], dependencies: dict[str, str], process_id: str = "") -> str:
    """The hash naming a version. ``process_id`` only for a file holding several executable processes,
    whose versions share the XML (a file of one process keeps the hash it always had)."""
    h = hashlib.sha256(xml)
    h.update(json.dumps(form_schemas, sort_keys=True, separators=(",", ":")).encode())
    h.update(json.dumps(dependencies, sort_keys=True).encode())
    if process_id:
        h.update(b"\0process:" + process_id.encode())
    return h.hexdigest()


def content_sha(source: SourceFile) -> str:
    """The hash a caller pins a called process by: its XML alone."""
    return sha256_of(source.data, {}, {})


def safe_parse(source: SourceFile, max_bytes: int) -> Any:
    """Parse ``source`` with entities, DTDs and network access off. Raises DefinitionError."""
    if len(source.data) > max_bytes:
        raise DefinitionError([Problem(source.name, "", f"the file is {len(source.data)} bytes; the limit is "
                                                        f"{max_bytes}", "split it into smaller processes",
                                       rule="file-size")])
    if b"<!DOCTYPE" in source.data[:4096].upper() or b"<!ENTITY" in source.data.upper():
        raise DefinitionError([_doctype_problem(source.name)])
    try:
        root = etree.fromstring(source.data, etree.XMLParser(**_SAFE_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if getattr(exc, "position", None) else None)
        raise DefinitionError([Problem(source.name, "", f"not well-formed XML (line {line or '?'}): {exc.msg}",
                                       "fix the XML there, or export the diagram again from the modeler",
                                       rule="xml", line=line or None)]) from None
    if root.getroottree().docinfo.doctype:
        raise DefinitionError([_doctype_problem(source.name)])
    if etree.QName(root).namespace != BPMN_NS or etree.QName(root).localname != "definitions":
        raise DefinitionError([Problem(source.name, "", f"the root element must be bpmn:definitions "
                                                        f"(namespace {BPMN_NS})",
                                       "save the diagram as BPMN 2.0 XML", rule="xml")])
    return root


#: the bound on XML the engine reads from text it holds (a stored version, a diagram on its way from the
#: modeler) to look at or compare: where a file comes in (deploy, save, publish), ``max_definition_bytes``
#: applies; this only keeps such a read finite
TEXT_MAX_BYTES = 50_000_000


def parse_text(name: str, xml: str) -> Any:
    """``xml`` (text) parsed as :func:`safe_parse` does, up to :data:`TEXT_MAX_BYTES`; ``name`` for its problems.
    Raises DefinitionError."""
    return safe_parse(SourceFile.from_text(name, xml), TEXT_MAX_BYTES)


def _doctype_problem(name: str) -> Problem:
    return Problem(name, "", "DOCTYPE and entity declarations are not allowed in BPMN files",
                   "remove the <!DOCTYPE ...> block", rule="xml")


def load(source: SourceFile, max_bytes: int) -> tuple[SourceFile, Any]:
    """``source`` in the canonical encoding (UTF-8, declared so) and its parsed root. Raises DefinitionError.

    The bytes are parsed as they are (the XML parser honours a byte-order mark and the declared
    encoding), then decoded the same way and re-encoded as UTF-8; a file that already is UTF-8 without
    a byte-order mark comes back unchanged (the same object)."""
    root = safe_parse(source, max_bytes)
    declared = (root.getroottree().docinfo.encoding or "UTF-8").lower()
    bom = next((codec for mark, codec in _BOMS if source.data.startswith(mark)), None)
    if bom is None and declared in ("utf-8", "utf8"):
        return source, root
    try:
        text = source.data.decode(bom or declared)
    except (LookupError, UnicodeDecodeError):  # an encoding libxml2 knows and Python does not
        text = etree.tostring(root.getroottree(), encoding="unicode")
    canonical = SourceFile.from_text(source.name, text)
    return canonical, safe_parse(canonical, max(max_bytes, len(canonical.data)))
