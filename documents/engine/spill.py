"""Spill files: what a stopping process could not write to the database, kept on local disk for the next start.

A file is written whole to a temporary name, flushed to disk and then renamed, so a reader never sees half of
one. Its format is ours (nothing else reads it): a magic line, then records of a document id (16 bytes), an update
length (4 bytes, big-endian) and the update. A file that does not parse is renamed ``*.bad`` and reported, never
deleted.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

logger = logging.getLogger("documents.engine.store")

MAGIC = b"collab-spill 1\n"
_LENGTH = struct.Struct(">I")


class SpillFile:
    """Writing one spill file."""

    @staticmethod
    def write(directory: Path, updates: Mapping[uuid.UUID, list[bytes]]) -> Path:
        """Write ``updates`` to a new spill file in ``directory`` (created if needed); returns its path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"spill-{time.time_ns()}-{os.getpid()}.bin"
        temporary = path.with_suffix(".tmp")
        with open(temporary, "wb") as file:
            file.write(MAGIC)
            for document_id, items in updates.items():
                for update in items:
                    file.write(document_id.bytes)
                    file.write(_LENGTH.pack(len(update)))
                    file.write(update)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        return path


def read_spill_files(directory: Path) -> Iterator[tuple[Path, dict[uuid.UUID, list[bytes]]]]:
    """Each complete spill file in ``directory``, oldest first, with its updates by document."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("spill-*.bin")):
        try:
            yield path, _parse(path.read_bytes())
        except (OSError, ValueError) as exc:
            logger.error("spill file %s cannot be read (%s); kept as %s.bad", path, exc, path.name)
            path.rename(path.with_suffix(".bad"))


def _parse(data: bytes) -> dict[uuid.UUID, list[bytes]]:
    if not data.startswith(MAGIC):
        raise ValueError("not a spill file")
    updates: dict[uuid.UUID, list[bytes]] = {}
    position = len(MAGIC)
    while position < len(data):
        header_end = position + 16 + _LENGTH.size
        if header_end > len(data):
            raise ValueError("truncated record header")
        document_id = uuid.UUID(bytes=data[position : position + 16])
        (length,) = _LENGTH.unpack(data[position + 16 : header_end])
        if header_end + length > len(data):
            raise ValueError("truncated record")
        updates.setdefault(document_id, []).append(data[header_end : header_end + length])
        position = header_end + length
    return updates
