"""A DOCX's ZIP container checked against zip bombs from its directory alone, before any
entry is inflated. Apart from the DOCX parser so that intake can refuse a bomb before storing
it without loading python-docx."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from apps.documents.errors import PermanentError

MAX_ENTRIES = 2000
MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, per entry and overall


def check_archive(data: bytes) -> None:
    """Refuse a DOCX whose ZIP directory promises too much, before any entry is inflated."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise PermanentError("The DOCX file is not a valid ZIP archive (a Word document is one).", code="corrupt")
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise PermanentError("The DOCX file is a damaged ZIP archive.", code="corrupt")
    if len(infos) > MAX_ENTRIES:
        raise PermanentError(f"The DOCX archive has {len(infos)} entries (limit {MAX_ENTRIES}).", code="archive_limits")
    total = sum(info.file_size for info in infos)
    compressed = sum(info.compress_size for info in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise PermanentError(
            f"The DOCX archive would expand to {total // (1024 * 1024)} MB (limit {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB); "
            "it looks like a zip bomb.",
            code="archive_limits",
        )
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise PermanentError(
                f"The DOCX entry “{info.filename}” is compressed {info.file_size // max(info.compress_size, 1)}:1; "
                "it looks like a zip bomb.",
                code="archive_limits",
            )
    if total > 10 * 1024 * 1024 and total > MAX_RATIO * max(compressed, 1):
        raise PermanentError("The DOCX archive is compressed beyond any real document; it looks like a zip bomb.", code="archive_limits")
    if "word/document.xml" not in {info.filename for info in infos}:
        raise PermanentError("The ZIP archive is not a Word document (no word/document.xml).", code="corrupt")
    _refuse_macros(zipfile.ZipFile(io.BytesIO(data)), infos)


# A macro-enabled Word file keeps its VBA project in a part such as word/vbaProject.bin and
# declares it in [Content_Types].xml (ECMA-376 / MS-OFFMACRO); renaming a .docm to .docx
# keeps both. Such a file is refused: we would store and serve it back to other people.
MACRO_PART_NAMES = ("vbaproject.bin", "vbadata.xml")
MACRO_CONTENT_TYPES = (b"macroenabled", b"vbaproject")
CONTENT_TYPES_PART = "[Content_Types].xml"
MAX_CONTENT_TYPES_BYTES = 1024 * 1024


def _refuse_macros(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    macro = "The Word document contains macros (a VBA project); macro-enabled documents are not accepted. Save it as a plain .docx without macros."
    if any(PurePosixPath(info.filename).name.lower() in MACRO_PART_NAMES for info in infos):
        raise PermanentError(macro, code="macro_enabled")
    declared = next((info for info in infos if info.filename == CONTENT_TYPES_PART), None)
    if declared is None or declared.file_size > MAX_CONTENT_TYPES_BYTES:
        return
    try:
        content_types = archive.read(declared).lower()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise PermanentError("The DOCX file is a damaged ZIP archive.", code="corrupt")
    if any(marker in content_types for marker in MACRO_CONTENT_TYPES):
        raise PermanentError(macro, code="macro_enabled")
