"""The model file's container, read by the same rules as the C reader.

A model file is a zip of STORED (uncompressed) ``.npy`` members, as ``np.savez`` writes
it. This module reads it exactly as ``cpp/src/loader/stored_zip.cpp`` and
``npy_array.cpp`` do, so the Python and the native reader accept and reject the same
files (``tests/fuzz/fuzz_model_readers.py`` checks it): the central directory (zip64
records included) with every offset and size checked against the bytes present, no
compressed, encrypted or multi-disk archive, no repeated member, the local header's
name and the CRC-32 checked on read; ``.npy`` headers by the grammar numpy writes
(quoted keys, ``True``/``False``, a tuple of non-negative integers), dtypes ``<f4``,
``<f8`` and ``u1``. Every failure is a :class:`~actif.errors.ModelFormatError`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .constants import MAX_FILE_BYTES, MAX_MEMBER_BYTES, MAX_NPY_HEADER_BYTES, MAX_ZIP_MEMBERS
from .errors import ModelFormatError

# The native reader's limits (constants.json; cpp/include/actif/model_file.hpp).
MAX_MODEL_FILE_BYTES = MAX_FILE_BYTES

_LOCAL_SIG, _CENTRAL_SIG, _END_SIG = 0x04034B50, 0x02014B50, 0x06054B50
_ZIP64_END_SIG, _ZIP64_LOCATOR_SIG = 0x06064B50, 0x07064B50
_LOCAL_SIZE, _CENTRAL_SIZE, _END_SIZE, _ZIP64_END_SIZE, _ZIP64_LOCATOR_SIZE = 30, 46, 22, 56, 20


def _malformed(what: str) -> ModelFormatError:
    return ModelFormatError(f"not a readable actif model file: {what}")


def _inside(offset: int, length: int, size: int) -> bool:
    return 0 <= offset <= size and 0 <= length <= size - offset


@dataclass(frozen=True)
class _Member:
    name: bytes
    local_offset: int
    size: int
    crc: int
    method: int


class StoredZip:
    """The directory of a stored zip held in ``data`` (bytes, or a memoryview of them)."""

    def __init__(self, data: bytes | memoryview):
        self._d = memoryview(data).cast("B")
        d, size = self._d, len(self._d)
        u16 = lambda p: struct.unpack_from("<H", d, p)[0]  # noqa: E731
        u32 = lambda p: struct.unpack_from("<I", d, p)[0]  # noqa: E731
        u64 = lambda p: struct.unpack_from("<Q", d, p)[0]  # noqa: E731
        if size < _END_SIZE:
            raise _malformed("too short to be a zip archive")
        # The end record is the last 22 bytes plus a comment of up to 64 KiB; it must end
        # exactly at the end of the data. Scanned from the end, as the C reader does.
        end_pos = None
        tail_start = max(0, size - _END_SIZE - 0xFFFF)
        tail = bytes(d[tail_start:])
        pos = len(tail) - _END_SIZE
        while pos >= 0:
            pos = tail.rfind(b"PK\x05\x06", 0, pos + 4)
            if pos < 0:
                break
            back = len(tail) - _END_SIZE - pos
            if u16(tail_start + pos + 20) == back:
                end_pos = tail_start + pos
                break
            pos -= 1
        if end_pos is None:
            raise _malformed("no zip end-of-directory record (truncated or not a zip)")
        e = end_pos
        if u16(e + 4) != 0 or u16(e + 6) != 0 or u16(e + 8) != u16(e + 10):
            raise ModelFormatError("multi-disk zip archives are not supported")
        count, cd_size, cd_offset = u16(e + 10), u32(e + 12), u32(e + 16)
        cd_end = end_pos
        if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
            if end_pos < _ZIP64_LOCATOR_SIZE or u32(end_pos - _ZIP64_LOCATOR_SIZE) != _ZIP64_LOCATOR_SIG:
                raise _malformed("zip64 end record locator missing")
            z = u64(end_pos - _ZIP64_LOCATOR_SIZE + 8)
            if not _inside(z, _ZIP64_END_SIZE, end_pos - _ZIP64_LOCATOR_SIZE) or u32(z) != _ZIP64_END_SIG:
                raise _malformed("zip64 end record missing or out of bounds")
            if u32(z + 16) != 0 or u32(z + 20) != 0 or u64(z + 24) != u64(z + 32):
                raise ModelFormatError("multi-disk zip archives are not supported")
            count, cd_size, cd_offset = u64(z + 32), u64(z + 40), u64(z + 48)
            cd_end = z
        if count > MAX_ZIP_MEMBERS:
            raise ModelFormatError(f"zip archive declares {count} members (limit {MAX_ZIP_MEMBERS})")
        if not _inside(cd_offset, cd_size, cd_end) or cd_offset + cd_size != cd_end:
            raise _malformed("zip central directory does not fit the archive (truncated?)")
        if count * _CENTRAL_SIZE > cd_size:
            raise _malformed("zip central directory is shorter than its entry count")
        self._members: dict[bytes, _Member] = {}
        pos = cd_offset
        for _ in range(count):
            if not _inside(pos, _CENTRAL_SIZE, cd_end) or u32(pos) != _CENTRAL_SIG:
                raise _malformed("corrupt zip central directory")
            flags, method = u16(pos + 8), u16(pos + 10)
            name_len, extra_len, comment_len = u16(pos + 28), u16(pos + 30), u16(pos + 32)
            if not _inside(pos + _CENTRAL_SIZE, name_len + extra_len + comment_len, cd_end):
                raise _malformed("corrupt zip central directory entry")
            name = bytes(d[pos + _CENTRAL_SIZE : pos + _CENTRAL_SIZE + name_len])
            shown = name.decode("utf-8", "replace")
            crc, csize, msize, local = u32(pos + 16), u32(pos + 20), u32(pos + 24), u32(pos + 42)
            extra = bytes(d[pos + _CENTRAL_SIZE + name_len : pos + _CENTRAL_SIZE + name_len + extra_len])
            msize, csize, local = _apply_zip64_extra(extra, msize, csize, local, shown)
            if flags & 0x1:
                raise ModelFormatError(f"zip member '{shown}' is encrypted")
            if msize > MAX_MEMBER_BYTES:
                raise ModelFormatError(f"zip member '{shown}' declares {msize} bytes (limit {MAX_MEMBER_BYTES})")
            if method == 0 and csize != msize:
                raise _malformed(f"stored member '{shown}' has differing sizes")
            if name in self._members:
                raise _malformed(f"zip archive holds member '{shown}' twice")
            self._members[name] = _Member(name, local, msize, crc, method)
            pos += _CENTRAL_SIZE + name_len + extra_len + comment_len

    def read(self, name: str) -> memoryview:
        """The member's bytes (a view into the archive), after its local header and
        CRC-32 are checked."""
        m = self._members.get(name.encode("utf-8"))
        if m is None:
            raise _malformed(f"zip archive has no member '{name}'")
        if m.method != 0:
            raise ModelFormatError(
                f"zip member '{name}' is compressed (method {m.method}); actif model files are uncompressed "
                ".npz (np.savez, not np.savez_compressed), the same rule as the native reader"
            )
        d, size = self._d, len(self._d)
        if not _inside(m.local_offset, _LOCAL_SIZE, size) or struct.unpack_from("<I", d, m.local_offset)[0] != _LOCAL_SIG:
            raise _malformed(f"zip member '{name}' has no local header at its offset")
        name_len, extra_len = struct.unpack_from("<HH", d, m.local_offset + 26)
        data_pos = m.local_offset + _LOCAL_SIZE + name_len + extra_len
        start = m.local_offset + _LOCAL_SIZE
        if name_len != len(m.name) or not _inside(start, name_len, size) or bytes(d[start : start + name_len]) != m.name:
            raise _malformed(f"zip member '{name}': local and central names differ")
        if not _inside(data_pos, m.size, size):
            raise _malformed(f"zip member '{name}' is truncated ({m.size} bytes declared)")
        out = d[data_pos : data_pos + m.size]
        if zlib.crc32(out) & 0xFFFFFFFF != m.crc:
            raise _malformed(f"zip member '{name}' is corrupt (CRC-32 mismatch)")
        return out


def _apply_zip64_extra(extra: bytes, size: int, csize: int, offset: int, name: str) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF sizes/offsets by the zip64 extra field's (id 1) values."""
    want = [size == 0xFFFFFFFF, csize == 0xFFFFFFFF, offset == 0xFFFFFFFF]
    if not any(want):
        return size, csize, offset
    values = [size, csize, offset]
    pos = 0
    while pos + 4 <= len(extra):
        ident, n = struct.unpack_from("<HH", extra, pos)
        if pos + 4 + n > len(extra):
            break
        if ident == 1:
            used = 0
            for k in range(3):
                if not want[k]:
                    continue
                if used + 8 > n:
                    raise _malformed(f"member '{name}' has a short zip64 extra field")
                values[k] = struct.unpack_from("<Q", extra, pos + 4 + used)[0]
                used += 8
            return values[0], values[1], values[2]
        pos += 4 + n
    raise _malformed(f"member '{name}' needs a zip64 extra field and has none")


# ------------------------------------------------------------------------ .npy members


NPY_DTYPES = {"<f4": "<f4", "<f8": "<f8", "|u1": "u1", "<u1": "u1", ">u1": "u1", "u1": "u1"}


def parse_npy(m: memoryview, name: str) -> tuple[tuple[int, ...], str, memoryview]:
    """(shape, dtype, data) of a ``.npy`` member: the header by numpy's grammar as the C
    reader parses it, the data checked to be present (trailing bytes are ignored)."""
    if len(m) < 10 or bytes(m[:6]) != b"\x93NUMPY":
        raise ModelFormatError(f"array '{name}' is not a .npy member (bad magic)")
    major, minor = m[6], m[7]
    if (major, minor) == (1, 0):
        header_len, header_pos = struct.unpack_from("<H", m, 8)[0], 10
    elif (major, minor) == (2, 0) and len(m) >= 12:
        header_len, header_pos = struct.unpack_from("<I", m, 8)[0], 12
    else:
        raise ModelFormatError(f"array '{name}': unsupported .npy version {major}.{minor}")
    if header_len > MAX_NPY_HEADER_BYTES:
        raise ModelFormatError(f"array '{name}' has a .npy header of {header_len} bytes (limit {MAX_NPY_HEADER_BYTES})")
    if header_len > len(m) - header_pos:
        raise ModelFormatError(f"array '{name}' is truncated inside its .npy header")
    text = bytes(m[header_pos : header_pos + header_len]).decode("latin-1")
    descr, fortran, shape = _NpyHeader(text, name).parse()
    if fortran:
        raise ModelFormatError(f"array '{name}' is Fortran-ordered")
    if descr not in NPY_DTYPES:
        raise ModelFormatError(f"array '{name}' has dtype '{descr}', expected '<f4', '<f8' or '|u1'")
    dtype = NPY_DTYPES[descr]
    nbytes = {"<f4": 4, "<f8": 8, "u1": 1}[dtype]
    for dim in shape:  # exact integers: nothing wraps
        nbytes *= dim
    if nbytes > MAX_MEMBER_BYTES:
        raise ModelFormatError(f"array '{name}' declares more than {MAX_MEMBER_BYTES} bytes")
    data_pos = header_pos + header_len
    if nbytes > len(m) - data_pos:
        raise ModelFormatError(f"array '{name}' is truncated ({len(m) - data_pos} of {nbytes} bytes)")
    return shape, dtype, m[data_pos : data_pos + nbytes]


class _NpyHeader:
    """``{'descr': '<f4', 'fortran_order': False, 'shape': (16, 6), }`` in any key order."""

    def __init__(self, text: str, name: str):
        self.s, self.name, self.pos = text, name, 0

    def fail(self, what: str) -> ModelFormatError:
        return ModelFormatError(f"array '{self.name}' has a bad .npy header: {what}")

    def peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else "\0"

    def space(self) -> None:
        while self.pos < len(self.s) and self.s[self.pos] in " \n\t\r":
            self.pos += 1

    def eat(self, ch: str) -> bool:
        if self.peek() != ch:
            return False
        self.pos += 1
        return True

    def expect(self, ch: str) -> None:
        self.space()
        if not self.eat(ch):
            raise self.fail(f"expected '{ch}'")

    def quoted(self) -> str:
        q = self.peek()
        if q not in ("'", '"'):
            raise self.fail("expected a quoted string")
        end = self.s.find(q, self.pos + 1)
        if end < 0:
            raise self.fail("unterminated string")
        out = self.s[self.pos + 1 : end]
        if "\\" in out:
            raise self.fail("escapes are not expected")
        self.pos = end + 1
        return out

    def boolean(self) -> bool:
        for word, value in (("True", True), ("False", False)):
            if self.s.startswith(word, self.pos):
                self.pos += len(word)
                return value
        raise self.fail("fortran_order must be True or False")

    def tuple(self) -> tuple[int, ...]:
        self.expect("(")
        dims: list[int] = []
        comma = False
        while True:
            self.space()
            if self.eat(")"):
                break
            if not "0" <= self.peek() <= "9":
                raise self.fail("shape must be a tuple of non-negative integers")
            v = 0
            while "0" <= self.peek() <= "9":
                v = v * 10 + ord(self.s[self.pos]) - 48
                self.pos += 1
                if v > 1 << 40:
                    raise self.fail("shape dimension too large")
            self.eat("L")  # Python 2 long suffix, still accepted by numpy
            dims.append(v)
            if len(dims) > 32:
                raise self.fail("too many dimensions")
            self.space()
            if self.eat(")"):
                break
            if not self.eat(","):
                raise self.fail("expected ',' or ')' in shape")
            comma = True
        if len(dims) == 1 and not comma:  # "(5)" is the integer 5 in Python, not a tuple
            raise self.fail("shape must be a tuple")
        return tuple(dims)

    def parse(self) -> tuple[str, bool, tuple[int, ...]]:
        found: dict[str, object] = {}
        self.expect("{")
        while True:  # a trailing comma is allowed: numpy writes "..., }"
            self.space()
            if self.eat("}"):
                break
            key = self.quoted()
            self.space()
            self.expect(":")
            self.space()
            if key in found or key not in ("descr", "fortran_order", "shape"):
                raise self.fail(f"unexpected or repeated key '{key}'")
            found[key] = self.quoted() if key == "descr" else self.boolean() if key == "fortran_order" else self.tuple()
            self.space()
            if self.eat("}"):
                break
            if not self.eat(","):
                raise self.fail("expected ',' or '}'")
        self.space()
        if self.pos != len(self.s):
            raise self.fail("trailing characters")
        if len(found) != 3:
            raise self.fail("needs the keys descr, fortran_order and shape")
        return found["descr"], found["fortran_order"], found["shape"]  # type: ignore[return-value]
