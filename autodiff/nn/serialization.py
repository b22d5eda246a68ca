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
"""
import os
import secrets
import zipfile

import numpy as np

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
    folder, base = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with mode 0o666 lets the umask decide the permissions, as for any new file
    # (tempfile.mkstemp would make the saved model readable by its owner only).
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, array in checked.items():
                    with archive.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _sync_folder(folder)


def load_arrays(path):
    """The arrays of the ``.npz`` at `path`, as a dict name -> numpy array.

    Never unpickles: a file holding pickled objects raises ValueError naming the entry.
    """
    path = os.fspath(path)
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{path}: not a safe .npz archive ({err}); refusing to load it") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive of named arrays, found a single "
                         f".npy array")
    arrays = {}
    with data:
        for name in data.files:
            try:
                array = data[name]
            except ValueError as err:  # an object array: would need unpickling
                raise ValueError(f"{path}: entry {name!r} cannot be loaded safely ({err}); "
                                 f"refusing to load the file") from None
            if array.dtype.kind not in _KINDS:
                raise ValueError(f"{path}: entry {name!r} has unsupported dtype {array.dtype}")
            arrays[name] = array
    return arrays


def _sync_folder(folder):
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
