"""Named arrays on disk as ``.npz``: written atomically, read without unpickling.

Contract
--------
* `save_arrays(path, arrays)` writes a numpy ``.npz`` archive (one ``name.npy`` member per
  entry; names may contain dots and slashes) to a new temporary file in the same folder,
  flushes it to disk, then renames it over `path` with `os.replace`. A rename within one
  folder is atomic, so a crash or a kill at any moment leaves either the old file or the
  new one, never a torn one (at worst a stray ``.<name>.<pid>.<random>.tmp`` file).
* `load_arrays(path)` reads with ``allow_pickle=False``: an archive holding object arrays
  (pickled Python objects, which could run code when unpickled) raises ValueError before
  any of it is used, and nothing is unpickled.
* Only numeric, boolean and string arrays are written or read; anything else raises.
* A file that is not such an archive (truncated, corrupt, another format, an entry that
  is not a ``.npy`` array) raises ValueError naming the path and what was expected.
"""
import os
import zipfile
import zlib

import numpy as np

from ..core.files import write_atomically

_KINDS = "biufcU"  # bool, ints, floats, complex, unicode strings: no Python objects


def save_arrays(path, arrays):
    """Write `arrays` (a mapping name -> array-like) to `path` as an ``.npz``, atomically.

    The path is used as given (no ``.npz`` is appended).
    """
    path = os.fspath(path)
    checked = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"save_arrays: array names must be non-empty strings, got {name!r}")
        array = np.asarray(value)
        if array.dtype.kind not in _KINDS:
            raise TypeError(f"save_arrays: {name!r} has dtype {array.dtype}; only numeric, "
                            f"boolean and string arrays are saved (never pickled objects)")
        checked[name] = array

    def write(handle):
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in checked.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

    write_atomically(path, write)


def load_arrays(path):
    """The arrays of the ``.npz`` at `path`, as a dict name -> numpy array.

    Never unpickles: a file holding pickled objects raises ValueError naming the entry. A
    truncated or corrupt file, or an archive entry that is not a ``.npy`` array, raises
    ValueError naming the path (a missing file raises FileNotFoundError as usual).
    """
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except _CORRUPT as err:
        raise ValueError(f"{path}: not a readable .npz archive of named arrays ({_why(err)}); "
                         f"the file may be truncated, corrupt or of another format; refusing "
                         f"to load it") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive of named arrays, found a single "
                         f".npy array")
    with data:
        return {name: _read_entry(path, data, name) for name in data.files}


# What reading a damaged archive raises: zipfile's and zlib's errors for the container,
# EOFError and ValueError (numpy's own, and "pickled data" refusals) for an entry.
_CORRUPT = (ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _read_entry(path, data, name):
    """One checked array of the open archive `data` (read from `path`)."""
    try:
        array = data[name]
    except _CORRUPT as err:  # an object array (would need unpickling), or damaged bytes
        raise ValueError(f"{path}: entry {name!r} cannot be loaded safely ({_why(err)}); "
                         f"refusing to load the file") from None
    if not isinstance(array, np.ndarray):  # numpy hands back non-.npy members as bytes
        raise ValueError(f"{path}: entry {name!r} is not a .npy array (an .npz archive "
                         f"holds only name.npy entries); refusing to load the file")
    if array.dtype.kind not in _KINDS:
        raise ValueError(f"{path}: entry {name!r} has unsupported dtype {array.dtype}")
    return array


def _why(err):
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
