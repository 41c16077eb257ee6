"""Read an ``istioctl bug-report`` archive, member by member, without holding it in memory.

The archive is a ``.tar.gz`` (``bug-report.tar.gz``; ``.tgz`` in old docs), a plain ``.tar``, or
the folder it was extracted to. Entries start with ``bug-report/`` when istioctl staged them
in its temp dir, and have no prefix with ``--dir`` (istio/istio ``tools/bug-report/pkg/
archive/archive.go`` ``getRootDir``; ``bugreport.go``): :class:`BugReportArchive` strips the
prefix, so every path here is relative to the report's root (``cluster/crs``,
``proxies/default/reviews-v1-x/config_dump?include_eds``). Member names are URL paths, so
they may contain ``?``.

A gzip stream only reads forwards, and a 1 GB archive of hundreds of config dumps must be
neither unpacked to disk nor held in memory. Opening it therefore makes one pass that lists
the members (name, offset, size) and keeps a zlib decompressor checkpoint every
:data:`CHECKPOINT_BYTES` of output (``zlib.Decompress.copy()``: a 32 KiB window plus state,
so ~12 MiB of checkpoints for 1 GiB of members).
Reading a member then resumes from the nearest checkpoint before it, so each read costs its
own size plus at most one checkpoint interval, whatever order the gatherer asks in; only the
member being read is in memory.
"""

from __future__ import annotations

import bisect
import io
import os
import tarfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ArchiveError", "BugReportArchive", "CHECKPOINT_BYTES", "looks_like_bug_report", "open_archive"]

PREFIX = "bug-report/"
#: uncompressed bytes between two decompressor checkpoints (memory: ~50 KiB per checkpoint)
CHECKPOINT_BYTES = 4 * 2**20
_CHUNK = 2**16


class ArchiveError(Exception):
    """The path is not a readable bug-report archive (one sentence, for the user)."""


@dataclass(frozen=True)
class Member:
    name: str  # relative to the report root
    offset: int  # of the data in the uncompressed tar stream (or -1 for a folder's file)
    size: int
    mtime: float


class _Checkpoint:
    __slots__ = ("decomp", "in_pos", "out_pos")

    def __init__(self, in_pos: int, out_pos: int, decomp: zlib._Decompress | None) -> None:
        self.in_pos = in_pos  # compressed bytes consumed before this point
        self.out_pos = out_pos  # uncompressed bytes produced before this point
        self.decomp = decomp  # a copy of the decompressor at this point (None: start of file)


class _IndexingReader(io.RawIOBase):
    """The uncompressed stream of a gzip file, read forwards once, leaving checkpoints."""

    def __init__(self, fh: io.BufferedReader, checkpoints: list[_Checkpoint]) -> None:
        self._fh = fh
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 32)
        self._in = 0
        self._out = 0
        self._buf = b""
        self._cps = checkpoints
        self._next_cp = CHECKPOINT_BYTES
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._buf and not self._eof:
            if self._out >= self._next_cp:
                self._cps.append(_Checkpoint(self._in, self._out, self._d.copy()))
                self._next_cp = self._out + CHECKPOINT_BYTES
            data = self._fh.read(_CHUNK)
            if not data:
                self._eof = True
                return
            self._in += len(data)
            out = self._d.decompress(data)
            if self._d.eof and self._d.unused_data:
                # concatenated gzip members: carry on with a fresh decompressor
                rest = self._d.unused_data
                self._d = zlib.decompressobj(zlib.MAX_WBITS | 32)
                out += self._d.decompress(rest)
            self._out += len(out)
            self._buf = out

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        self._fill()
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class BugReportArchive:
    """The members of one bug-report, read lazily. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._members: dict[str, Member] = {}
        self._checkpoints: list[_Checkpoint] = []
        self._kind: str
        if path.is_dir():
            self._kind = "dir"
            self._index_dir()
        elif path.is_file():
            self._kind = self._sniff()
            self._index_tar()
        else:
            raise ArchiveError(f"{path} is neither a bug-report archive nor a folder")
        if not self._members:
            raise ArchiveError(f"{path} holds no files: not an istioctl bug-report")
        self._strip_prefix()
        self._cp_outs = [c.out_pos for c in self._checkpoints]

    # -- indexing ---------------------------------------------------------------------------
    def _sniff(self) -> str:
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(512)
        except OSError as e:
            raise ArchiveError(f"cannot read {self.path}: {e.strerror or e}") from None
        if head[:2] == b"\x1f\x8b":
            return "gz"
        if len(head) >= 262 and head[257:262] == b"ustar":
            return "tar"
        raise ArchiveError(f"{self.path} is not a .tar.gz or .tar archive (nor a folder)")

    def _index_dir(self) -> None:
        for root, _dirs, files in os.walk(self.path):
            for f in files:
                p = Path(root, f)
                try:
                    st = p.stat()
                except OSError:
                    continue
                rel = p.relative_to(self.path).as_posix()
                self._members[rel] = Member(rel, -1, st.st_size, st.st_mtime)

    def _index_tar(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                stream: io.BufferedIOBase
                if self._kind == "gz":
                    self._checkpoints.append(_Checkpoint(0, 0, None))
                    stream = io.BufferedReader(_IndexingReader(fh, self._checkpoints), buffer_size=_CHUNK)  # type: ignore[arg-type]
                else:
                    stream = fh
                with tarfile.open(fileobj=stream, mode="r|") as tf:
                    for ti in tf:
                        if ti.isfile():  # istioctl writes regular files only (archive.Create)
                            name = ti.name.removeprefix("./")
                            self._members[name] = Member(name, ti.offset_data, ti.size, float(ti.mtime))
        except (tarfile.TarError, zlib.error, EOFError, OSError) as e:
            if self._members:
                return  # a truncated archive (istioctl's --timeout): keep what was complete
            raise ArchiveError(f"cannot read {self.path} as a tar archive: {e}") from None

    def _strip_prefix(self) -> None:
        names = list(self._members)
        if names and all(n.startswith(PREFIX) for n in names):
            self._members = {n[len(PREFIX):]: Member(n[len(PREFIX):], m.offset, m.size, m.mtime)
                             for n, m in self._members.items()}
            self._stored_prefix = PREFIX
        else:
            self._stored_prefix = ""

    # -- reading ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._members)

    def has(self, name: str) -> bool:
        return name in self._members

    def member(self, name: str) -> Member | None:
        return self._members.get(name)

    def listdir(self, prefix: str) -> list[str]:
        """The direct children (files or folders) under ``prefix/``, sorted."""
        p = prefix.rstrip("/") + "/"
        return sorted({n[len(p):].split("/", 1)[0] for n in self._members if n.startswith(p)})

    @property
    def newest_mtime(self) -> float:
        return max((m.mtime for m in self._members.values()), default=0.0)

    def read(self, name: str) -> bytes:
        """One member's bytes; KeyError when the archive has no such file."""
        m = self._members[name]
        if self._kind == "dir":
            return (self.path / (self._stored_prefix + name)).read_bytes()
        with self._lock:
            if self._kind == "tar":
                with open(self.path, "rb") as fh:
                    fh.seek(m.offset)
                    return fh.read(m.size)
            return self._read_gz(m.offset, m.size)

    def read_text(self, name: str) -> str:
        return self.read(name).decode("utf-8", errors="replace")

    def _read_gz(self, offset: int, size: int) -> bytes:
        cp = self._checkpoints[bisect.bisect_right(self._cp_outs, offset) - 1]
        d = cp.decomp.copy() if cp.decomp is not None else zlib.decompressobj(zlib.MAX_WBITS | 32)
        pos = cp.out_pos
        parts: list[bytes] = []
        need = size
        with open(self.path, "rb") as fh:
            fh.seek(cp.in_pos)
            while need > 0:
                data = fh.read(_CHUNK)
                if not data:
                    break
                out = d.decompress(data)
                if d.eof and d.unused_data:
                    rest = d.unused_data
                    d = zlib.decompressobj(zlib.MAX_WBITS | 32)
                    out += d.decompress(rest)
                end = pos + len(out)
                if end > offset:
                    lo = max(0, offset - pos)
                    piece = out[lo:lo + need]
                    parts.append(piece)
                    need -= len(piece)
                pos = end
        if need > 0:
            raise ArchiveError(f"{self.path} ends inside a member (truncated archive)")
        return b"".join(parts)


_CACHE: dict[tuple[str, float, int], BugReportArchive] = {}
_CACHE_LOCK = threading.Lock()


def open_archive(path: str | Path) -> BugReportArchive:
    """The archive at ``path`` (indexed once per process: the TUI opens a runner per action)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise ArchiveError(f"cannot read {p}: {e.strerror or e}") from None
    key = (str(p.resolve()), st.st_mtime, st.st_size)
    with _CACHE_LOCK:
        got = _CACHE.get(key)
        if got is None:
            got = BugReportArchive(p)
            _CACHE.clear()  # one archive at a time: an index of a big one is worth keeping, two are not
            _CACHE[key] = got
        return got


def looks_like_bug_report(path: str | Path) -> bool:
    """A folder, or a tar (possibly gzipped) file: not a recording (YAML, possibly gzipped)."""
    p = Path(path)
    if p.is_dir():
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(head, 512)
        except zlib.error:
            return False
    return len(head) >= 262 and head[257:262] == b"ustar"
