"""Atomic file writes, shared by model files and graph pictures.

Contract
--------
`write_atomically(path, write)` replaces the file at `path` with what ``write(handle)``
writes, so that a reader, a crash or a SIGKILL at any moment sees either the previous
file or the complete new one, never a torn one:

* the data goes to a temporary file in the target's folder (``.<name>.<host>.<pid>.<hex>.tmp``),
  created with mode 0o666 so that the umask decides the permissions, exactly as for a
  file opened with ``open(path, "wb")``;
* it is flushed and fsync'ed, then renamed over `path` with `os.replace` (atomic within
  one folder), and the folder is fsync'ed so the rename itself survives a power cut;
* on any error, the temporary file is removed and the previous file is untouched;
* missing folders on the way to `path` are created;
* a writer killed outright (SIGKILL, power cut) cannot remove its temporary file, so each
  save first removes the leftovers of earlier saves of the same target whose writer
  process, on this host, no longer exists. A leftover of a live process (another thread,
  or another process saving the same file now) is never touched.
"""
import os
import re
import secrets
import socket

_TEMP_SUFFIX = ".tmp"


def write_atomically(path, write):
    """Replace the file at `path` with what ``write(handle)`` writes to a binary handle.

    `write` may also be ``bytes``. Returns `path` (as a string). See the module docstring
    for the guarantees.
    """
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(path)
    temporary = os.path.join(folder, f".{base}.{_host()}.{os.getpid()}."
                                     f"{secrets.token_hex(4)}{_TEMP_SUFFIX}")
    # os.open with 0o666 lets the umask decide, as for any new file (tempfile.mkstemp
    # would make every saved file readable by its owner only).
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(write, (bytes, bytearray, memoryview)):
                handle.write(write)
            else:
                write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
        os.replace(temporary, path)
    except BaseException:
        _unlink_quietly(temporary)
        raise
    _sync_folder(folder)
    return path


def remove_stale_temporaries(path):
    """Remove temporary files left beside `path` by earlier writers that were killed.

    Only files named by `write_atomically` for this very target, on this host, whose
    process id no longer runs are removed. Returns the list of removed paths.
    """
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return []
    folder, base = os.path.split(os.path.abspath(os.fspath(path)))
    pattern = re.compile(re.escape(f".{base}.{_host()}.") + r"(\d+)\.[0-9a-f]+"
                         + re.escape(_TEMP_SUFFIX) + "$")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        match = pattern.match(name)
        if match and not _process_exists(int(match.group(1))):
            leftover = os.path.join(folder, name)
            if _unlink_quietly(leftover):
                removed.append(leftover)
    return removed


def _host():
    """This machine's name, made safe for a file name: pids are only unique per host."""
    return re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname()) or "host"


def _process_exists(pid):
    if pid == os.getpid():
        return True  # another thread of this process may be writing right now
    try:
        os.kill(pid, 0)  # signal 0: no signal sent, only the existence check
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def _unlink_quietly(path):
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


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
