"""Picture files are written like model files: through one atomic-write helper, so their
permissions follow the umask, missing folders are made for every format, a killed write
never touches the previous file, and a later write removes a killed one's leftovers."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.core import files

FORMATS = ["png", "svg", "pdf", "dot"]


@pytest.fixture
def graph():
    x = ad.Variable(3.0, name="x")
    return x * x + ad.exp(x)


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.parametrize("fmt", FORMATS)
def test_picture_permissions_follow_the_umask(tmp_path, graph, umask, fmt):
    path = ad.plot_comp_graph(graph, tmp_path / f"g.{fmt}")
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_model_file_permissions_follow_the_umask(tmp_path, umask):
    path = tmp_path / "m.npz"
    nn.Linear(2, 3, rng=0).save(path)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("fmt", FORMATS + ["npz"])
def test_missing_folders_are_created_for_every_format(tmp_path, graph, fmt):
    path = tmp_path / "a" / "b" / f"g.{fmt}"
    if fmt == "npz":
        nn.Linear(2, 3, rng=0).save(path)
    else:
        ad.plot_comp_graph(graph, path)
    assert path.stat().st_size > 0
    assert os.listdir(path.parent) == [path.name]  # and no temporary file left


def test_a_failed_write_keeps_the_previous_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"previous")

    def failing(handle):
        handle.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        files.write_atomically(path, failing)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["f.bin"]


# A picture whose write blocks half-way: the test kills it there.
STUCK_WRITER = textwrap.dedent("""
    import sys, time
    from autodiff.core import files

    def stuck(handle):
        handle.write(b"half of a new picture")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

    files.write_atomically(sys.argv[1], stuck)
""")


def _kill_mid_write(path):
    """Run a writer of `path` that blocks mid-write, SIGKILL it there, return its pid."""
    child = subprocess.Popen([sys.executable, "-c", STUCK_WRITER, str(path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
        child.wait()
    return child.pid


def test_a_killed_picture_write_keeps_the_old_picture_and_the_next_one_cleans_up(tmp_path,
                                                                                  graph):
    path = ad.plot_comp_graph(graph, tmp_path / "g.png")
    before = open(path, "rb").read()
    for _ in range(3):  # three killed saves: each removes the one killed before it
        pid = _kill_mid_write(path)
        assert open(path, "rb").read() == before
        leftover, = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert f".{pid}." in leftover
    ad.plot_comp_graph(graph, path)
    assert os.listdir(tmp_path) == ["g.png"]


def test_leftovers_of_other_targets_and_other_files_are_not_touched(tmp_path, graph):
    other = tmp_path / "other.png"
    _kill_mid_write(other)
    unrelated = tmp_path / ".notes.txt"
    unrelated.write_text("mine")
    ad.plot_comp_graph(graph, tmp_path / "g.png")
    names = sorted(os.listdir(tmp_path))
    assert ".notes.txt" in names and any(n.startswith(".other.png.") for n in names)
    removed = files.remove_stale_temporaries(other)
    assert len(removed) == 1 and sorted(os.listdir(tmp_path)) == [".notes.txt", "g.png"]


def test_a_model_file_and_its_leftovers_behave_the_same(tmp_path):
    path = tmp_path / "m.npz"
    model = nn.Linear(2, 3, rng=0)
    model.save(path)
    before = path.read_bytes()
    _kill_mid_write(path)
    assert path.read_bytes() == before
    model.save(path)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert np.array_equal(nn.load_arrays(path)["weight"], model.weight.value)
