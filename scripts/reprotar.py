"""Writes a reproducible .tar.gz: entries sorted, owned by root, timestamped
SOURCE_DATE_EPOCH, modes 0644/0755, and a gzip header without a name or time.

    reprotar.py repack IN.tar.gz OUT.tar.gz     normalise an existing archive
    reprotar.py pack DIR OUT.tar.gz             archive DIR as its own top-level entry
"""

import gzip
import io
import os
import sys
import tarfile


def _epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = _epoch()
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.pax_headers = {}  # a repacked PAX archive carries sub-second mtimes here
    if info.isdir() or info.mode & 0o111:
        info.mode = 0o755
    else:
        info.mode = 0o644
    return info


def _write(entries, out: str) -> None:
    """entries: (TarInfo, bytes or None) in any order."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in sorted(entries, key=lambda e: e[0].name):
            tar.addfile(_normalised(info), io.BytesIO(data) if data is not None else None)
    with open(out, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=_epoch(), compresslevel=9) as gz:
        gz.write(raw.getvalue())


def repack(src: str, out: str) -> None:
    entries = []
    with tarfile.open(src, "r:gz") as tar:
        for info in tar.getmembers():
            if not (info.isfile() or info.isdir()):
                raise SystemExit(f"reprotar: {src}: {info.name} is neither a file nor a directory")
            data = tar.extractfile(info).read() if info.isfile() else None
            entries.append((info, data))
    _write(entries, out)


def pack(directory: str, out: str) -> None:
    directory = os.path.abspath(directory)
    base = os.path.dirname(directory)
    entries = []
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
            info = tarfile.TarInfo(os.path.relpath(name, base))
            st = os.lstat(name)
            if os.path.isdir(name):
                info.type, data = tarfile.DIRTYPE, None
            elif os.path.isfile(name) and not os.path.islink(name):
                with open(name, "rb") as f:
                    data = f.read()
                info.size = len(data)
            else:
                raise SystemExit(f"reprotar: {name} is neither a file nor a directory")
            info.mode = st.st_mode & 0o777
            entries.append((info, data))
    _write(entries, out)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("repack", "pack"):
        raise SystemExit(__doc__)
    {"repack": repack, "pack": pack}[sys.argv[1]](sys.argv[2], sys.argv[3])
