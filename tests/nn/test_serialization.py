"""Model files: .npz with dotted names, atomic replacement (a SIGKILL during save leaves a
loadable file), no unpickling of hostile files, checked loads, optimiser state resumed."""
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn


class Net(nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        self.embed = nn.Embedding(7, 3, rng=seed)
        self.layers = [nn.Linear(3, 5, rng=seed + 1), nn.Linear(5, 2, rng=seed + 2)]

    def forward(self, idx):
        h = self.embed(idx)
        for layer in self.layers:
            h = ad.tanh(layer(h))
        return h


NAMES = ["embed.weight", "layers.0.weight", "layers.0.bias", "layers.1.weight",
         "layers.1.bias"]


def same_state(a, b):
    return list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_save_and_load_round_trip_with_dotted_names(tmp_path):
    path = tmp_path / "net.npz"
    model, other = Net(0), Net(10)
    model.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(NAMES)
    assert other.load(path) == nn.IncompatibleKeys([], [])
    assert same_state(model.state_dict(), other.state_dict())
    assert os.listdir(tmp_path) == ["net.npz"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # an ordinary new file


def test_save_replaces_the_file_and_uses_the_path_as_given(tmp_path):
    path = tmp_path / "weights.bin"
    Net(0).save(path)
    model = Net(1)
    model.save(path)
    assert os.listdir(tmp_path) == ["weights.bin"]
    fresh = Net(2)
    fresh.load(path)
    assert same_state(fresh.state_dict(), model.state_dict())


def test_names_that_are_numpy_keywords_are_fine(tmp_path):
    arrays = {"file": np.ones(2), "allow_pickle": np.zeros(1), "a/b.c": np.arange(3)}
    nn.save_arrays(tmp_path / "x.npz", arrays)
    assert same_state(nn.load_arrays(tmp_path / "x.npz"), arrays)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("layers.1.bias"), "missing: layers.1.bias"),
    (lambda s: s.update({"layers.2.bias": np.ones(2)}), "unexpected: layers.2.bias"),
    (lambda s: s.update({"embed.weight": np.ones((8, 3))}), "embed.weight: shape"),
])
def test_a_mismatched_file_raises_and_changes_nothing(tmp_path, change, message):
    state = Net(5).state_dict()
    change(state)
    path = tmp_path / "bad.npz"
    nn.save_arrays(path, state)
    model = Net(0)
    before = model.state_dict()
    with pytest.raises(ValueError, match=message):
        model.load(path)
    assert same_state(model.state_dict(), before)


def _train(model, opt, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, 7, size=(4,))
        target = rng.standard_normal((4, 2))
        loss = nn.mse_loss(model(idx), target)
        opt.step(ad.evaluate(ad.grad(loss, model.parameters())))


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "RMSprop"])
def test_model_and_optimizer_resume_exactly_from_one_file(tmp_path, opt_name):
    def make():
        model = Net(0)
        options = {"momentum": 0.9} if opt_name != "Adam" else {}
        return model, getattr(nn, opt_name)(model.parameters(), lr=0.05, **options)

    path = tmp_path / "checkpoint.npz"
    model, opt = make()
    _train(model, opt, 3, seed=1)
    model.save(path, optimizer=opt)
    _train(model, opt, 3, seed=2)  # uninterrupted
    resumed, resumed_opt = make()
    resumed.load(path, optimizer=resumed_opt)
    _train(resumed, resumed_opt, 3, seed=2)
    assert same_state(model.state_dict(), resumed.state_dict())
    # the optimiser entries do not disturb a model-only load
    Net(3).load(path)


def test_optimizer_problems_are_found_before_the_model_changes(tmp_path):
    path = tmp_path / "model_only.npz"
    source = Net(4)
    source.save(path)
    model = Net(0)
    before = model.state_dict()
    with pytest.raises(ValueError, match="no optimizer state"):
        model.load(path, optimizer=nn.Adam(model.parameters()))
    opt = nn.SGD(source.parameters(), momentum=0.9)
    opt.step([np.ones(p.shape) for p in source.parameters()])
    source.save(path, optimizer=opt)
    with pytest.raises(ValueError, match="not of Adam"):
        model.load(path, optimizer=nn.Adam(model.parameters()))
    assert same_state(model.state_dict(), before)


def test_model_problems_are_found_before_the_optimizer_changes(tmp_path):
    path = tmp_path / "mismatch.npz"
    source = Net(4)
    source.layers.append(nn.Linear(2, 2))  # an extra layer: the file will not fit Net
    opt = nn.SGD(source.parameters(), lr=0.3, momentum=0.9)
    opt.step([np.ones(p.shape) for p in source.parameters()])
    source.save(path, optimizer=opt)
    model = Net(0)
    target = nn.SGD(model.parameters() + nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="unexpected: layers.2.weight"):
        model.load(path, optimizer=target)
    assert target.lr == 0.1 and target.state == [{} for _ in target.params]


# --- crash safety -----------------------------------------------------------------------

SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    from autodiff import nn

    model = nn.Linear(1000, 2000, rng=0)   # 2M weights: 16 MB per save
    k = 0
    while True:
        k += 1
        model.weight.value = np.full(model.weight.shape, float(k))
        model.bias.value = np.full(model.bias.shape, float(k))
        model.save(sys.argv[1])
        print(k, flush=True)
""")


def test_a_save_killed_at_a_random_moment_leaves_a_complete_file(tmp_path):
    path = tmp_path / "big.npz"
    chooser = random.Random(0)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "1"  # a first complete save exists
            # kill at a random point of a later save (most of the loop's time is saving)
            time.sleep(chooser.uniform(0.0, 0.4))
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        with np.load(path, allow_pickle=False) as data:
            weight, bias = data["weight"], data["bias"]
        k = weight.flat[0]
        assert k >= 1 and np.all(weight == k) and np.all(bias == k)  # one complete save
        model = nn.Linear(1000, 2000)
        model.load(path)
        assert np.all(model.weight.value == k)


# --- hostile files -----------------------------------------------------------------------

class _Payload:
    """Unpickling this runs code: it would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_a_file_holding_pickled_objects_is_refused_without_running_them(tmp_path):
    marker = tmp_path / "marker"
    model = Net(0)
    before = model.state_dict()
    hostile = dict(before)
    hostile["layers.0.bias"] = np.array([_Payload(marker)] * 5, dtype=object)
    path = tmp_path / "hostile.npz"
    np.savez(path, **hostile)  # numpy pickles the object array
    with pytest.raises(ValueError, match="layers.0.bias"):
        model.load(path)
    with pytest.raises(ValueError):
        nn.load_arrays(path)
    plain_pickle = tmp_path / "pickle.npz"  # not even an archive: a bare pickle
    plain_pickle.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="refusing"):
        model.load(plain_pickle)
    assert not marker.exists()
    assert same_state(model.state_dict(), before)


def test_only_archives_of_plain_arrays_are_written_or_read(tmp_path):
    with pytest.raises(TypeError, match="pickled"):
        nn.save_arrays(tmp_path / "x.npz", {"a": np.array([object()])})
    assert os.listdir(tmp_path) == []
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(ValueError, match="single"):
        nn.load_arrays(tmp_path / "single.npy")


# --- file safety: permissions, folders, killed saves -------------------------------------

@pytest.fixture
def umask_027():
    """A umask other than the usual 022, so that 'follows the umask' can fail visibly."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def test_model_file_permissions_follow_the_umask(tmp_path, umask_027):
    path = tmp_path / "net.npz"
    Net(0).save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640  # 0o666 less the umask 0o027


def test_missing_folders_are_created(tmp_path):
    path = tmp_path / "runs" / "today" / "net.npz"
    Net(0).save(path)
    assert same_state(nn.load_arrays(path), Net(0).state_dict())


# A save whose disk is slow: write_array sleeps after writing half of each array and says
# so, so that the test can kill it in the middle of a write (not before, not after).
SLOW_SAVER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from autodiff import nn

    model = nn.Linear(300, 400, rng=0)
    model.save(sys.argv[1])
    print("first save done", flush=True)
    real_write = np.lib.format.write_array

    def slow_write(member, array, **kw):
        flat = np.ascontiguousarray(array).reshape(-1)
        np.lib.format.write_array_header_2_0(member, np.lib.format.header_data_from_array_1_0(array))
        member.write(flat[: flat.size // 2].tobytes())
        print("writing", flush=True)
        time.sleep(60)

    np.lib.format.write_array = slow_write
    model.weight.value = model.weight.value + 1.0
    model.save(sys.argv[1])
""")


def _temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def test_a_save_killed_mid_write_keeps_the_previous_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "model.npz"
    child = subprocess.Popen([sys.executable, "-c", SLOW_SAVER, str(path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "first save done"
        previous = path.read_bytes()
        assert child.stdout.readline().strip() == "writing"
        assert len(_temporaries(tmp_path)) == 1  # the half-written file of the second save
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
        child.wait()
    assert path.read_bytes() == previous  # untouched, byte for byte
    leftover, = _temporaries(tmp_path)
    assert f".{child.pid}." in leftover  # named after the dead writer
    model = nn.Linear(300, 400)
    model.load(path)  # still a complete file
    model.save(path)  # the next save removes the dead writer's leftover
    assert os.listdir(tmp_path) == ["model.npz"]


def test_a_leftover_of_a_live_writer_is_kept(tmp_path):
    import socket
    host = "".join(c if c.isalnum() or c == "-" else "_" for c in socket.gethostname())
    parent = tmp_path / f".model.npz.{host}.{os.getppid()}.0123abcd.tmp"  # alive
    parent.write_bytes(b"being written")
    Net(0).save(tmp_path / "model.npz")
    assert parent.exists()


# --- damaged or foreign files --------------------------------------------------------------

def test_a_truncated_file_raises_value_error_naming_the_path(tmp_path):
    path = tmp_path / "cut.npz"
    Net(0).save(path)
    data = path.read_bytes()
    for size in [len(data) // 2, 100, 0]:
        path.write_bytes(data[:size])
        with pytest.raises(ValueError, match=f"{path}.*not a readable .npz archive"):
            Net(1).load(path)


def test_a_corrupt_entry_raises_value_error_naming_the_path(tmp_path):
    path = tmp_path / "flipped.npz"
    nn.save_arrays(path, {"a": np.arange(1000.0)})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored array: the zip CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{path}.*'a'"):
        nn.load_arrays(path)


def test_an_entry_that_is_not_a_npy_array_is_named(tmp_path):
    import zipfile
    path = tmp_path / "mixed.npz"
    nn.save_arrays(path, {"a": np.ones(2)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match=r"mixed.npz: entry 'notes.txt' is not a .npy array"):
        nn.load_arrays(path)
