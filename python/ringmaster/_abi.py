"""ctypes binding of ``libRingmasterC.so``, the C ABI over Swift's ``Collectives``.

The library is found, in order, at ``$RINGMASTER_LIBRARY`` (a path to the .so), or next to the
``ringmaster`` executable on PATH (its folder or ``../lib``, following a symlink too). It is loaded
on first use (``library()``), never at import. Every function returns a code (0 ok, 1 timeout,
2 peerLost, 3 mismatch, 4 refused, 5 joinTimedOut, 6 invalidArgument, 7 closed, 8 other) and
writes a NUL-terminated message into the caller's buffer; ``check`` turns that into
``CollectiveError``. ctypes releases the GIL during each call, so a blocking collective does not
stall the rank's other Python threads.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import threading
from typing import List, Optional

from .errors import CollectiveError

__all__ = ["ABI_VERSION", "LIBRARY_NAME", "LibraryNotFound", "find_library", "library", "check", "error_buffer",
           "DTYPES", "OPS", "SUBGROUPS"]

ABI_VERSION = 1
LIBRARY_NAME = "libRingmasterC.so"
_ERRLEN = 1024

DTYPES = {"float32": 1, "float64": 2, "float16": 3, "bfloat16": 4, "int32": 5, "int64": 6}
OPS = {"sum": 1, "avg": 2, "min": 3, "max": 4}
SUBGROUPS = {"tensor": 0, "data": 1, "pipeline": 2}


class LibraryNotFound(OSError):
    """The C ABI library cannot be found or loaded."""


def _candidates() -> List[str]:
    found = []
    exe = shutil.which("ringmaster")
    if exe:
        for folder in dict.fromkeys([os.path.dirname(exe), os.path.dirname(os.path.realpath(exe))]):
            found += [os.path.join(folder, LIBRARY_NAME), os.path.join(folder, "..", "lib", LIBRARY_NAME)]
    return [os.path.normpath(p) for p in found]


def find_library() -> str:
    """The path of the library, or ``LibraryNotFound`` saying where it looked and how to point at it."""
    explicit = os.environ.get("RINGMASTER_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            raise LibraryNotFound(f"RINGMASTER_LIBRARY={explicit!r} is not a file — set it to the path of "
                                  f"{LIBRARY_NAME} from the Swift build (e.g. .build/release/{LIBRARY_NAME})")
        return explicit
    candidates = _candidates()
    for path in candidates:
        if os.path.isfile(path):
            return path
    looked = ", ".join(candidates) if candidates else "no `ringmaster` executable on PATH"
    raise LibraryNotFound(f"cannot find {LIBRARY_NAME} (looked at: {looked}) — set RINGMASTER_LIBRARY to its path "
                          f"(the Swift build writes it next to the `ringmaster` executable, e.g. .build/release/)")


_lock = threading.Lock()
_library: Optional[ctypes.CDLL] = None

_i32, _i64, _ptr, _size = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_size_t
_group_out = ctypes.POINTER(ctypes.c_void_p)
_SIGNATURES = {
    "rm_abi_version": (_i32, []),
    "rm_world_join": (_i32, [_i64, _group_out, ctypes.c_char_p, _size]),
    "rm_group_sub": (_i32, [_ptr, _i32, _group_out, ctypes.c_char_p, _size]),
    "rm_group_rank": (_i32, [_ptr]),
    "rm_group_size": (_i32, [_ptr]),
    "rm_allreduce": (_i32, [_ptr, _ptr, _i64, _i32, _i32, _i64, ctypes.c_char_p, _size]),
    "rm_broadcast": (_i32, [_ptr, _ptr, _i64, _i32, _i32, _i64, ctypes.c_char_p, _size]),
    "rm_barrier": (_i32, [_ptr, _i64, ctypes.c_char_p, _size]),
    "rm_group_leave": (None, [_ptr]),
    "rm_group_abort": (None, [_ptr]),
}


def library() -> ctypes.CDLL:
    """Loads (once) and returns the library with every function's signature declared."""
    global _library
    with _lock:
        if _library is not None:
            return _library
        path = find_library()
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise LibraryNotFound(f"cannot load {path}: {e} — is it a build for this machine, with the Swift "
                                  f"runtime libraries on LD_LIBRARY_PATH?") from e
        for name, (restype, argtypes) in _SIGNATURES.items():
            try:
                fn = getattr(lib, name)
            except AttributeError:
                raise LibraryNotFound(f"{path} has no function {name} — it is not a Ringmaster C ABI library "
                                      f"of version {ABI_VERSION}") from None
            fn.restype, fn.argtypes = restype, argtypes
        version = lib.rm_abi_version()
        if version != ABI_VERSION:
            raise LibraryNotFound(f"{path} speaks C ABI version {version}; this package needs {ABI_VERSION} — "
                                  f"install the Python package and the library from the same Ringmaster build")
        _library = lib
        return lib


def error_buffer():
    return ctypes.create_string_buffer(_ERRLEN)


def check(code: int, buffer, what: str) -> None:
    """Raises ``CollectiveError`` for a non-zero return code."""
    if code != 0:
        message = buffer.value.decode("utf-8", "replace") or f"{what} failed"
        raise CollectiveError.from_code(code, message)
