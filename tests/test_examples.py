"""Every example program runs in --quick mode and produces sane outputs.

Each example runs as a subprocess (as a user runs it), with MPLBACKEND=Agg and a
temporary --out folder; the tests check the PNGs it names (valid signature, non-trivial
size) and the figures it prints (accuracy above chance, loss decreasing, coefficients
close, the logistic-regression loss exact). The char-rnn tests also check that a run
stopped and resumed from its checkpoint follows the uninterrupted loss trajectory
exactly, and that --generate prints text from a checkpoint.
"""
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["char_rnn", "demo", "higher_order_tanh", "mlp_digits", "logistic_regression",
         "regression", "checkpointing", "plot_graphs", "newton_logistic"]


def run_example(name, *args, timeout=120):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, name + ".py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"{name} {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def check_png(path, min_bytes=5000):
    assert os.path.exists(path), f"{path} was not written"
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_SIGNATURE, f"{path} is not a PNG"
    assert os.path.getsize(path) >= min_bytes, f"{path} is suspiciously small"


def written_pngs(stdout):
    return re.findall(r"(\S+\.png)", stdout)


@pytest.mark.parametrize("name", NAMES)
def test_help(name):
    out = run_example(name, "--help")
    assert "--quick" in out and "--out" in out


def test_char_rnn_quick_resume_and_generate(tmp_path):
    common = ["--quick", "--steps", "40", "--no-progress"]
    full_dir, part_dir = tmp_path / "full", tmp_path / "part"
    out = run_example("char_rnn", *common, "--out", str(full_dir),
                      "--checkpoint", str(full_dir / "ck.npz"))
    png = str(full_dir / "char_rnn_loss.png")
    check_png(png)
    assert png in out
    full = json.loads((full_dir / "char_rnn_history.json").read_text())
    train = full["train"]
    assert len(train) == 40
    assert sum(train[-10:]) / 10 < sum(train[:5]) / 5 - 0.5, train  # the loss goes down
    assert full["final_val"] < 3.5  # below log(vocabulary) ~ 4.56 nats: it learned something
    assert "sample (temperature" in out

    # stop at step 20, then resume to 40: the same trajectory as the uninterrupted run
    ck = str(part_dir / "ck.npz")
    run_example("char_rnn", "--quick", "--steps", "20", "--no-progress", "--out",
                str(part_dir), "--checkpoint", ck, "--checkpoint-every", "20")
    out = run_example("char_rnn", *common, "--out", str(part_dir), "--checkpoint", ck,
                      "--resume")
    assert "resumed from" in out and "at step 20" in out
    resumed = json.loads((part_dir / "char_rnn_history.json").read_text())
    assert resumed["step"] == full["step"]
    # the same losses; two separate processes can differ in the last bit (numpy's SIMD
    # reductions depend on buffer alignment), even two uninterrupted runs, so compare to
    # 1e-9 relative, far below any difference a wrong resume would make
    assert resumed["train"] == pytest.approx(train, rel=1e-9, abs=0)
    assert resumed["final_val"] == pytest.approx(full["final_val"], rel=1e-9)

    # the dynamic style (a new graph every step) computes the same losses
    run_example("char_rnn", "--quick", "--steps", "20", "--no-progress", "--rebuild",
                "--sample-every", "0", "--out", str(tmp_path / "rebuild"))
    rebuilt = json.loads((tmp_path / "rebuild" / "char_rnn_history.json").read_text())
    assert rebuilt["train"] == pytest.approx(train[:20], rel=1e-9, abs=0)

    # generate from the checkpoint
    out = run_example("char_rnn", "--checkpoint", ck, "--generate", "80", "--prime", "The ",
                      "--temperature", "0.8", "--quick")
    text = out.rstrip("\n")
    assert text.startswith("The ") and len(text) >= 80


def test_char_rnn_on_the_jax_backend_learns_what_numpy_does(tmp_path):
    """The same training on both backends (the compiled step, optimiser included, as one
    XLA program on jax) reaches the same losses and validation."""
    histories = {}
    for backend in ("numpy", "jax"):
        out_dir = tmp_path / backend
        run_example("char_rnn", "--quick", "--steps", "30", "--no-progress", "--backend",
                    backend, "--out", str(out_dir))
        histories[backend] = json.loads((out_dir / "char_rnn_history.json").read_text())
    numpy_run, jax_run = histories["numpy"], histories["jax"]
    assert numpy_run["train"] == pytest.approx(jax_run["train"], rel=1e-9)
    assert numpy_run["final_val"] == pytest.approx(jax_run["final_val"], rel=1e-9)


@pytest.mark.parametrize("cell", [["--cell", "gru"], ["--cell", "rnn", "--layers", "2"]])
def test_char_rnn_other_cells(tmp_path, cell):
    out = run_example("char_rnn", "--quick", "--steps", "8", "--no-progress", "--val-every",
                      "4", *cell, "--out", str(tmp_path))
    check_png(str(tmp_path / "char_rnn_loss.png"))
    assert float(re.search(r"final validation cross-entropy \(whole validation text\): ([\d.]+)", out).group(1)) < 4.6


def test_demo_quick(tmp_path):
    out = run_example("demo", "--quick", "--out", str(tmp_path))
    for section in ("build and evaluate", "derivatives are graphs", "higher orders",
                    "einsum", "compiled training loop", "char-rnn", "files written"):
        assert section in out
    names = {os.path.basename(p) for p in written_pngs(out)}
    assert {"tanh_derivatives.png", "gradient_graph.png", "char_rnn_loss.png"} <= names
    for name in names:
        check_png(str(tmp_path / name), min_bytes=2000)
    assert "sample:" in out


def test_higher_order_tanh_quick(tmp_path):
    out = run_example("higher_order_tanh", "--quick", "--out", str(tmp_path))
    check_png(str(tmp_path / "tanh_derivatives.png"))
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", out, re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5, 6]
    sizes = {int(r[0]): tuple(map(int, r[1:])) for r in rows}
    assert sizes[6][1] > 100            # nested grad alone grows quickly
    assert sizes[6][0] <= 20 and sizes[6][2] <= 20   # derivative / simplify stay small


def test_mlp_digits_quick(tmp_path):
    out = run_example("mlp_digits", "--quick", "--no-progress", "--out", str(tmp_path))
    check_png(str(tmp_path / "mlp_digits.png"))
    accuracy = float(re.search(r"test accuracy: ([\d.]+)", out).group(1))
    assert accuracy > 0.9  # chance is 0.1; the full run reaches >= 0.97
    first, last = map(float, re.search(r"train loss ([\d.]+) -> ([\d.]+)", out).groups())
    assert last < first


def test_logistic_regression_quick(tmp_path):
    out = run_example("logistic_regression", "--quick", "--out", str(tmp_path))
    check_png(str(tmp_path / "logistic_regression.png"))
    assert "loss (autodiff)     = 0.430446744029496" in out
    assert "autodiff agrees with the formulas" in out
    first, last = map(float, re.search(r"loss ([\d.]+) -> ([\d.]+)", out).groups())
    assert last < first
    assert float(re.search(r"training accuracy ([\d.]+)", out).group(1)) > 0.8


def test_regression_quick(tmp_path):
    out = run_example("regression", "--quick", "--out", str(tmp_path))
    check_png(str(tmp_path / "regression.png"))
    intercept, slope = map(float, re.search(r"fitted y = ([\d.-]+) \+ ([\d.-]+) x",
                                            out).groups())
    assert abs(intercept - 5) < 0.1 and abs(slope - 10) < 0.1


def test_checkpointing_quick(tmp_path):
    out = run_example("checkpointing", "--quick", "--out", str(tmp_path))
    check_png(str(tmp_path / "checkpointing.png"))
    rows = re.findall(r"^\| ([a-z0-9 ]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \|", out, re.M)
    assert [r[0] for r in rows] == ["no checkpointing", "blocks of 4 checkpointed",
                                    "every layer checkpointed"]
    plain, blocks = float(rows[0][1]), float(rows[1][1])
    # 16 layers in blocks of 4 keep 4 block inputs and one block's insides: well under half
    # of the plain graph's 16 layers of activations (tracemalloc counts numpy's buffers)
    assert blocks < 0.6 * plain
    assert "the gradients of all three agree" in out


def test_newton_logistic_quick(tmp_path):
    """Newton's method on a dask cluster of two memory-limited workers: the fit on a
    sample agrees with scikit-learn fitted here on the same rows, made by the example's
    own block generator, and the fit on all rows is near the coefficients drawn from."""
    from sklearn.linear_model import LogisticRegression
    out = run_example("newton_logistic", "--quick", "--out", str(tmp_path), timeout=300)
    assert "all checks passed" in out
    figures = json.loads((tmp_path / "newton_logistic.json").read_text())
    beta = figures["coefficients"]
    assert figures["iterations"][-1]["step"] < 1e-10  # converged
    losses = [it["loss"] for it in figures["iterations"]]
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    spec = importlib.util.spec_from_file_location("newton_logistic",
                                                  os.path.join(EXAMPLES, "newton_logistic.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    x, y = example.numpy_data(figures["sample"], figures["chunk"], 0,
                              np.array(beta["true"]))
    reference = LogisticRegression(C=np.inf, fit_intercept=False, solver="newton-cholesky",
                                   tol=1e-12, max_iter=100).fit(x, y).coef_.ravel()
    np.testing.assert_allclose(beta["sample_dask"], reference, atol=1e-6, rtol=0)
    np.testing.assert_allclose(beta["sample_numpy"], reference, atol=1e-6, rtol=0)
    assert np.max(np.abs(np.subtract(beta["all_rows"], beta["true"]))) < 0.1
    assert len(figures["worker_peak_mib"]) == 2
