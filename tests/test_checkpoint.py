"""Tests for jaxnn.checkpoint: bit-identical round trips, atomicity and clear errors."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import checkpoint


class EmptyState(NamedTuple):
    pass


class AdamState(NamedTuple):
    count: jax.Array
    mu: dict
    nu: dict


class TrainState(NamedTuple):
    params: list
    model_state: tuple
    opt_state: tuple
    step: jax.Array
    key: jax.Array


def _state(getkey, hidden: int = 32, scale: float = 1.0) -> TrainState:
    # Host-side values (no per-shape compilation); the key is a typed jax key.
    rng = np.random.default_rng(int(scale * 1000))

    def normal(shape, dtype):
        return jnp.asarray(scale * rng.standard_normal(shape), dtype)

    params = [
        {"w": normal((64, hidden), jnp.float64), "b": normal((hidden,), jnp.float32)},
        {"w": normal((hidden, 10), jnp.float64)},
    ]
    adam = AdamState(
        count=jnp.asarray(7, jnp.int32),
        mu={k: v + 1.0 for k, v in params[0].items()},
        nu={k: v * v for k, v in params[0].items()},
    )
    return TrainState(
        params=params,
        model_state=((), {"running_mean": jnp.full((hidden,), 0.5 * scale)}),
        opt_state=(adam, EmptyState()),
        step=jnp.asarray(1234, jnp.int32),
        key=getkey(),
    )


def _as_numpy(leaf) -> np.ndarray:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def _assert_bit_identical(a, b) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(_as_numpy(x), _as_numpy(y), strict=True)


def _data_offset(path: pathlib.Path) -> int:
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def test_round_trip_is_bit_identical(tmp_path, getkey):
    saved = _state(getkey)
    path = checkpoint.save(tmp_path / "run", 1234, saved, metadata={"lr": 0.1})
    assert path == tmp_path / "run" / "ckpt_00001234.safetensors"
    restored, metadata = checkpoint.restore(tmp_path / "run", _state(getkey, scale=2.0))
    _assert_bit_identical(restored, saved)
    assert metadata == {"lr": 0.1}
    assert jax.dtypes.issubdtype(restored.key.dtype, jax.dtypes.prng_key)
    assert restored.opt_state[1] == EmptyState() and restored.model_state[0] == ()
    # The restored key draws the same numbers as the saved one.
    np.testing.assert_array_equal(
        jax.random.uniform(restored.key, (3,)), jax.random.uniform(saved.key, (3,))
    )


def test_header_records_format_step_leaves_and_user_metadata(tmp_path, getkey):
    path = checkpoint.save(tmp_path, 5, _state(getkey), metadata={"epoch": 2})
    raw = path.read_bytes()
    header = json.loads(raw[8 : _data_offset(path)])["__metadata__"]
    assert header["format"] == "jaxnn.checkpoint" and header["step"] == "5"
    assert header["format_version"] == str(checkpoint.FORMAT_VERSION)
    assert json.loads(header["metadata"]) == {"epoch": 2}
    assert re.fullmatch(r"[0-9a-f]{64}", header["sha256"])
    leaves = json.loads(header["leaves"])
    assert leaves[0] == {"path": ".params[0]['b']", "dtype": "float32", "shape": [32]}
    assert leaves[-1]["path"] == ".key" and leaves[-1]["dtype"] == "key<fry>"
    assert leaves[-1]["impl"] == "threefry2x32"
    assert b"pickle" not in raw


def test_scalars_numpy_and_single_leaf_trees(tmp_path):
    tree = {
        "n": np.arange(3, dtype=np.int64),
        "x": 2.5,
        "half": jnp.ones(2, jnp.bfloat16),
    }
    checkpoint.save(tmp_path, 0, tree)
    target = {"n": np.zeros(3, np.int64), "x": 0.0, "half": jnp.zeros(2, jnp.bfloat16)}
    restored, _ = checkpoint.restore(tmp_path, target)
    assert isinstance(restored["n"], np.ndarray)
    _assert_bit_identical(restored, jax.tree.map(jnp.asarray, tree))
    checkpoint.save(tmp_path, 1, jnp.float64(3.0))
    assert float(checkpoint.restore(tmp_path, jnp.float64(0.0))[0]) == 3.0
    checkpoint.save(tmp_path, 2, ())
    assert checkpoint.restore(tmp_path, ()) == ((), {})


def test_keep_last_n_and_steps(tmp_path):
    for step in (10, 20, 30, 40, 50):
        checkpoint.save(tmp_path, step, {"s": jnp.asarray(step)}, keep=2)
    assert checkpoint.all_steps(tmp_path) == [40, 50]
    assert checkpoint.latest_step(tmp_path) == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt_00000040.safetensors",
        "ckpt_00000050.safetensors",
    ]
    checkpoint.save(tmp_path, 60, {"s": jnp.asarray(60)})  # default keep=3
    assert checkpoint.all_steps(tmp_path) == [40, 50, 60]
    assert checkpoint.latest_step(tmp_path / "missing") is None
    assert checkpoint.all_steps(tmp_path / "missing") == []


def test_restore_latest_by_default_and_a_given_step(tmp_path, getkey):
    states = {step: _state(getkey, scale=float(step)) for step in (1, 2, 3)}
    for step, state in states.items():
        checkpoint.save(tmp_path, step, state, metadata={"step": step})
    target = _state(getkey)
    latest, meta = checkpoint.restore(tmp_path, target)
    _assert_bit_identical(latest, states[3])
    assert meta == {"step": 3}
    first, meta = checkpoint.restore(tmp_path, target, step=1)
    _assert_bit_identical(first, states[1])
    assert meta == {"step": 1}


def test_resaving_a_step_replaces_it(tmp_path):
    checkpoint.save(tmp_path, 3, {"a": jnp.zeros(2)})
    checkpoint.save(tmp_path, 3, {"a": jnp.ones(2)})
    assert checkpoint.all_steps(tmp_path) == [3]
    np.testing.assert_array_equal(
        checkpoint.restore(tmp_path, {"a": jnp.zeros(2)})[0]["a"], 1.0
    )


def test_killed_save_leaves_the_previous_checkpoint(tmp_path):
    writer = pathlib.Path(__file__).with_name("_checkpoint_writer.py")
    proc = subprocess.Popen(
        [sys.executable, str(writer), str(tmp_path), "48"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "saved 1", proc.stderr.read()
        deadline = time.monotonic() + 20.0
        while not any(p.name.startswith(".tmp") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "the writer never started step 2"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
    # Killed mid-write: no step 2 under a final name; the partial temp file is ignored.
    assert checkpoint.all_steps(tmp_path) == [1], "step 2 was renamed in place"
    assert len(leftovers) == 1
    restored, meta = checkpoint.restore(tmp_path, {"w": np.zeros(10)})
    np.testing.assert_array_equal(restored["w"], np.arange(10.0))
    assert meta == {"note": "small"}

    checkpoint.save(tmp_path, 3, {"w": np.zeros(10)})  # the next save cleans up
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())
    assert checkpoint.all_steps(tmp_path) == [1, 3]


def test_truncated_file_is_a_clear_error(tmp_path, getkey):
    path = checkpoint.save(tmp_path, 7, _state(getkey))
    raw = path.read_bytes()
    for size in (len(raw) - 100, _data_offset(path) - 10, 5, 0):
        path.write_bytes(raw[:size])
        msg = f"checkpoint file {path} is truncated or corrupted: "
        with pytest.raises(ValueError, match=re.escape(msg)):
            checkpoint.restore(tmp_path, _state(getkey))


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "ckpt_00000001.safetensors"
    path.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(
        ValueError, match=r"truncated or corrupted: no 'jaxnn.checkpoint"
    ):
        checkpoint.restore(tmp_path, {})


def test_flipped_byte_fails_the_checksum(tmp_path, getkey):
    path = checkpoint.save(tmp_path, 7, _state(getkey))
    raw = bytearray(path.read_bytes())
    raw[_data_offset(path) + 100] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(
        ValueError, match=re.escape(f"checkpoint file {path} failed its checksum")
    ):
        checkpoint.restore(tmp_path, _state(getkey))


def test_mismatched_target_names_the_leaf_and_both_shapes(tmp_path, getkey):
    path = checkpoint.save(tmp_path, 1, _state(getkey, hidden=128))
    msg = (
        f"checkpoint file {path} does not match the target: leaf .params[0]['b'] has "
        "shape (128,) in the checkpoint but (32,) in the target."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        checkpoint.restore(tmp_path, _state(getkey, hidden=32))


def test_mismatched_dtype_names_the_leaf_and_both_dtypes(tmp_path):
    checkpoint.save(tmp_path, 1, {"w": jnp.zeros(3, jnp.float32)})
    msg = "leaf ['w'] has dtype float32 in the checkpoint but float64 in the target."
    with pytest.raises(ValueError, match=re.escape(msg)):
        checkpoint.restore(tmp_path, {"w": jnp.zeros(3, jnp.float64)})


def test_mismatched_structure_lists_missing_and_extra_leaves(tmp_path):
    checkpoint.save(tmp_path, 1, {"a": jnp.zeros(1), "b": jnp.zeros(1)})
    msg = (
        "leaves missing from the checkpoint: [\"['c']\"]; leaves in the checkpoint but "
        "not in the target: [\"['b']\"]."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        checkpoint.restore(tmp_path, {"a": jnp.zeros(1), "c": jnp.zeros(1)})


def test_missing_directory_or_step_raises_file_not_found(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=re.escape(f"{missing} does not exist")):
        checkpoint.restore(missing, {})
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"no checkpoint in {tmp_path}")
    ):
        checkpoint.restore(tmp_path, {})
    for step in (2, 4):
        checkpoint.save(tmp_path, step, {})
    msg = r"no checkpoint for step 3 in .*ckpt_00000003.* available steps: \[2, 4\]\."
    with pytest.raises(FileNotFoundError, match=msg):
        checkpoint.restore(tmp_path, {}, step=3)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"keep": 0}, r"keep must be a positive int; got keep=0\."),
        ({"keep": 2.5}, r"keep must be a positive int; got keep=2.5\."),
        ({"keep": True}, r"keep must be a positive int; got keep=True\."),
        ({"step": -1}, r"step must be a non-negative integer; got step=-1\."),
        ({"metadata": {"x": object()}}, r"metadata must be JSON-serialisable"),
        # JSON can encode these, but restore refuses a file whose metadata is no dict.
        (
            {"metadata": [1, 2]},
            r"metadata must be a dict; got metadata=\[1, 2\] \(list\)",
        ),
        ({"metadata": "epoch 3"}, r"metadata must be a dict; got metadata='epoch 3'"),
    ],
)
def test_save_rejects_bad_arguments_before_writing(tmp_path, kwargs, pattern):
    step = kwargs.pop("step", 1)
    with pytest.raises(ValueError, match=pattern):
        checkpoint.save(tmp_path / "run", step, {"a": jnp.zeros(1)}, **kwargs)
    assert not (tmp_path / "run").exists()


def _rewrite_header(path: pathlib.Path, mutate) -> None:
    """Apply ``mutate`` to the file's jaxnn header dict, keeping its tensor data."""
    offset = _data_offset(path)
    raw = path.read_bytes()
    header = json.loads(raw[8:offset])
    mutate(header["__metadata__"])
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + raw[offset:])


def _set_leaf(field: str, value):
    def mutate(meta: dict) -> None:
        leaves = json.loads(meta["leaves"])
        if value is None:
            del leaves[-1][field]
        else:
            leaves[-1][field] = value
        meta["leaves"] = json.dumps(leaves)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda m: m.update(format_version="0"),
            "has format version 0; this jaxnn reads versions 1 to 1.",
        ),
        (
            lambda m: m.update(format_version="2"),
            "has format version 2; this jaxnn reads versions 1 to 1. Upgrade jaxnn",
        ),
        (_set_leaf("dtype", None), "is truncated or corrupted: missing entry 'dtype'"),
        (_set_leaf("shape", "2"), "is truncated or corrupted: malformed leaf entry"),
        (
            _set_leaf("impl", "rbg"),
            "does not match the target: leaf ['k'] has PRNG implementation rbg in the "
            "checkpoint but threefry2x32 in the target.",
        ),
        (
            lambda m: m.update(metadata="[1]"),
            "is truncated or corrupted: its metadata [1] is not a dict",
        ),
        (
            lambda m: m.update(step="9"),
            "records step 9, not the step 4 of its name; it was renamed or copied",
        ),
    ],
)
def test_bad_header_is_a_clear_error_naming_the_file(tmp_path, mutate, message):
    tree = {"a": np.zeros(2, np.float32), "k": jax.random.key(0)}
    path = checkpoint.save(tmp_path, 4, tree)
    _rewrite_header(path, mutate)
    with pytest.raises(ValueError, match=re.escape(f"checkpoint file {path} ")) as e:
        checkpoint.restore(tmp_path, tree)
    assert message in str(e.value)


@pytest.mark.parametrize(
    "dtype",
    [
        "bool",
        "int8",
        "uint16",
        "int64",
        "uint64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "complex64",
        "float8_e4m3fn",
        "float8_e5m2",
        "float8_e4m3fnuz",
        "float8_e5m2fnuz",
        "float8_e8m0fnu",
    ],
)
def test_every_storable_dtype_round_trips_bit_identically(tmp_path, dtype):
    saved = {"x": jnp.asarray(np.arange(6).reshape(2, 3) % 3, jnp.dtype(dtype))}
    checkpoint.save(tmp_path, 1, saved)
    restored, _ = checkpoint.restore(tmp_path, jax.tree.map(jnp.zeros_like, saved))
    assert restored["x"].dtype == saved["x"].dtype
    # Bytes, not values: float8_e8m0fnu has no zero (0 is stored as NaN).
    assert np.asarray(restored["x"]).tobytes() == np.asarray(saved["x"]).tobytes()


@pytest.mark.parametrize("dtype", ["complex128", "int4", "float8_e4m3b11fnuz"])
def test_unstorable_dtype_is_refused_before_writing(tmp_path, dtype):
    msg = f"leaf ['x'] has dtype {dtype}, which a checkpoint cannot store; supported:"
    with pytest.raises(ValueError, match=re.escape(msg)):
        checkpoint.save(tmp_path / "run", 1, {"x": jnp.zeros(2, jnp.dtype(dtype))})
    assert not (tmp_path / "run").exists()


def test_big_endian_numpy_leaf_round_trips(tmp_path):
    saved = np.arange(4, dtype=">f4")
    checkpoint.save(tmp_path, 1, {"x": saved})
    restored, _ = checkpoint.restore(tmp_path, {"x": np.zeros(4, np.float32)})
    np.testing.assert_array_equal(restored["x"], saved)
    assert restored["x"].dtype == np.float32


def test_only_names_that_save_writes_are_checkpoints(tmp_path):
    path = checkpoint.save(tmp_path, 5, {"a": jnp.zeros(1)})
    (tmp_path / "ckpt_000000005.safetensors").write_bytes(path.read_bytes())
    big = checkpoint.save(tmp_path, 123456789, {"a": jnp.zeros(1)})
    assert big.name == "ckpt_123456789.safetensors"
    assert checkpoint.all_steps(tmp_path) == [5, 123456789]
    checkpoint.restore(tmp_path, {"a": jnp.zeros(1)}, step=5)


def test_new_directories_are_fsynced_into_their_parents(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(checkpoint, "_fsync_directory", synced.append)
    checkpoint.save(tmp_path / "a" / "b", 1, {"a": jnp.zeros(1)})
    assert synced == [tmp_path, tmp_path / "a", tmp_path / "a" / "b"]


def test_restore_from_a_file_says_it_is_not_a_directory(tmp_path):
    path = checkpoint.save(tmp_path, 1, {"a": jnp.zeros(1)})
    with pytest.raises(
        NotADirectoryError, match=re.escape(f"{path} is a file, not a directory.")
    ):
        checkpoint.restore(path, {"a": jnp.zeros(1)})


def test_checkpoint_file_mode_follows_the_umask(tmp_path):
    """Readable as any file the user writes (mkstemp's 0o600 hid it from the group)."""
    old = os.umask(0o027)
    try:
        path = checkpoint.save(tmp_path, 1, {"a": jnp.zeros(1)})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_non_dict_metadata_neither_writes_nor_rotates_out_good_checkpoints(tmp_path):
    """It used to be written (and older checkpoints rotated out), then be unreadable."""
    for step in (1, 2):
        checkpoint.save(tmp_path, step, {"a": jnp.zeros(1)}, keep=2)
    with pytest.raises(ValueError, match="metadata must be a dict"):
        checkpoint.save(tmp_path, 3, {"a": jnp.zeros(1)}, keep=2, metadata=[3])
    assert checkpoint.all_steps(tmp_path) == [1, 2]
    checkpoint.restore(tmp_path, {"a": jnp.zeros(1)})


@pytest.mark.parametrize(
    "name",
    [
        "ckpt_00000009.safetensors\n",  # re's $ matches before a final newline
        "ckpt_\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0669.safetensors",  # Arabic-Indic 9
        "ckpt_\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff19.safetensors",  # fullwidth 9
    ],
)
def test_names_save_never_writes_neither_count_nor_rotate_out_checkpoints(
    tmp_path, name
):
    """Such a file used to read as step 9: latest_step said 9, restore failed, and
    keep=2 deleted the real step 5 to keep it."""
    five = checkpoint.save(tmp_path, 5, {"a": jnp.ones(1)})
    (tmp_path / name).write_bytes(five.read_bytes())
    assert checkpoint.all_steps(tmp_path) == [5]
    assert checkpoint.latest_step(tmp_path) == 5
    checkpoint.restore(tmp_path, {"a": jnp.zeros(1)})
    checkpoint.save(tmp_path, 10, {"a": jnp.ones(1)}, keep=2)
    assert checkpoint.all_steps(tmp_path) == [5, 10]
    assert (tmp_path / name).exists()


@pytest.mark.parametrize("step", ["5", 5.0, None])
def test_a_step_that_is_not_an_integer_is_named(tmp_path, step):
    checkpoint.save(tmp_path, 5, {"a": jnp.zeros(1)})
    message = re.escape(f"step must be a non-negative integer; got step={step!r}.")
    with pytest.raises(TypeError, match=message):
        checkpoint.save(tmp_path, step, {"a": jnp.zeros(1)})
    if step is not None:  # None is restore's "latest"
        with pytest.raises(TypeError, match=message):
            checkpoint.restore(tmp_path, {"a": jnp.zeros(1)}, step=step)


@pytest.mark.parametrize("step", [True, False])
def test_a_bool_step_is_refused_like_any_non_integer(tmp_path, step):
    """``operator.index(True)`` is 1: save(d, True, ...) used to write step 1."""
    checkpoint.save(tmp_path / "run", 1, {"a": jnp.zeros(1)})
    message = re.escape(f"step must be a non-negative integer; got step={step!r}.")
    with pytest.raises(TypeError, match=message):
        checkpoint.save(tmp_path / "new", step, {"a": jnp.zeros(1)})
    assert not (tmp_path / "new").exists()
    with pytest.raises(TypeError, match=message):
        checkpoint.restore(tmp_path / "run", {"a": jnp.zeros(1)}, step=step)


@pytest.mark.parametrize(
    "step", [np.int64(7), np.uint8(7), np.asarray(7), jnp.asarray(7, jnp.int32)]
)
def test_numpy_and_jax_integer_steps_are_accepted(tmp_path, step):
    path = checkpoint.save(tmp_path, step, {"a": jnp.zeros(1)})
    assert path.name == "ckpt_00000007.safetensors"
    checkpoint.restore(tmp_path, {"a": jnp.zeros(1)}, step=step)


# metadata that JSON would give back changed -> what the message must name
_CHANGED_BY_JSON = [
    ({1: "a"}, "got key 1 in metadata."),
    ({"epoch": 1, 1: "a"}, "got key 1 in metadata."),
    ({"config": {None: 1}}, "got key None in metadata['config']."),
    ({"runs": [{"lr": 0.1}, {2.5: 1}]}, "got key 2.5 in metadata['runs'][1]."),
    ({True: "on"}, "got key True in metadata."),
    ({"shape": (2, 3)}, "got metadata['shape']=(2, 3)."),
    ({"a": [1, {"b": (4,)}]}, "got metadata['a'][1]['b']=(4,)."),
]


@pytest.mark.parametrize(("metadata", "where"), _CHANGED_BY_JSON)
def test_metadata_that_json_would_change_is_refused_naming_it(
    tmp_path, metadata, where
):
    """``{1: "a"}`` used to be saved and restored as ``{"1": "a"}``, a tuple as a
    list: restore did not give the user's metadata back."""
    what = "keys must be strings" if "key" in where else "lists, not tuples"
    with pytest.raises(ValueError, match=re.escape(where)) as info:
        checkpoint.save(tmp_path / "run", 1, {"a": jnp.zeros(1)}, metadata=metadata)
    assert what in str(info.value)
    assert not (tmp_path / "run").exists()


def _snapshot(directory: pathlib.Path) -> dict:
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(directory.iterdir())
    }


@pytest.mark.parametrize(
    ("step", "metadata", "error"),
    [
        (3, {1: "a"}, ValueError),
        (3, {"shape": (2, 3)}, ValueError),
        (True, None, TypeError),
    ],
    ids=["int-key", "tuple", "bool-step"],
)
def test_a_refused_save_leaves_the_checkpoint_directory_unchanged(
    tmp_path, step, metadata, error
):
    """Byte for byte: no file written, replaced, rotated out or cleaned up."""
    for s in (1, 2):
        checkpoint.save(tmp_path, s, {"a": jnp.full(2, float(s))}, keep=2)
    (tmp_path / ".tmp-ckpt_00000002.safetensors-0123456789abcdef").write_bytes(b"x")
    before = _snapshot(tmp_path)
    with pytest.raises(error):
        checkpoint.save(
            tmp_path, step, {"a": jnp.full(2, 9.0)}, keep=1, metadata=metadata
        )
    assert _snapshot(tmp_path) == before
    assert len(before) == 3


def test_metadata_json_round_trips_comes_back_equal(tmp_path):
    """NaN and infinities (Python's JSON reads them back), big ints, nesting, unicode."""
    metadata = {
        "loss": float("nan"),
        "best": float("inf"),
        "worst": -float("inf"),
        "seed": 2**70,
        "lr": 0.1 + 0.2,
        "config": {"sizes": [64, 32], "name": "réseau \u2603", "on": True, "x": None},
    }
    checkpoint.save(tmp_path, 1, {"a": jnp.zeros(1)}, metadata=metadata)
    _, restored = checkpoint.restore(tmp_path, {"a": jnp.zeros(1)})
    assert np.isnan(restored.pop("loss"))
    assert restored == {k: v for k, v in metadata.items() if k != "loss"}
    assert type(restored["seed"]) is int and type(restored["lr"]) is float
