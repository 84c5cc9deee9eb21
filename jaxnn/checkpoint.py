"""Atomic save and restore of any pytree (params, model state, optimizer state, ...).

One file per checkpoint, ``DIR/ckpt_{step:08d}.safetensors``, in the safetensors format
(never pickle). Each leaf is one tensor, keyed by its pytree path string (e.g.
``.params[0].w``). The safetensors header metadata (string to string) holds:

- ``format`` / ``format_version``: ``"jaxnn.checkpoint"`` / ``"1"``;
- ``step``: the step as a decimal string;
- ``leaves``: JSON list, in flattening order, of ``{"path", "dtype", "shape"}`` (plus
  ``"impl"`` for typed PRNG key leaves, which are stored as ``jax.random.key_data``);
- ``sha256``: the hex digest of all tensor bytes in leaf order, which catches flipped
  bits in the data that the safetensors format itself cannot see;
- ``metadata``: the user's ``metadata`` dict as JSON.

A save writes a temporary file in the same directory, flushes and fsyncs it, renames it
onto the final name with ``os.replace`` and fsyncs the directory, so a crash at any
moment leaves either the old set of checkpoints or the new one. Temporary files are
never read by :func:`restore` and are removed by the next :func:`save`. One writer per
directory is assumed.

Restoring needs a *target*: a pytree with the structure of the saved one (e.g. a freshly
initialised train state). It tells :func:`restore` the tree structure, which leaves are
typed PRNG keys, and where arrays go (a ``jax.Array`` target leaf gets a ``jax.Array``
with the same sharding, a ``numpy.ndarray`` target leaf a ``numpy.ndarray``).

>>> import tempfile, jax.numpy as jnp
>>> d = tempfile.mkdtemp()
>>> _ = save(d, 10, {"w": jnp.ones(3)}, metadata={"epoch": 2})
>>> tree, meta = restore(d, {"w": jnp.zeros(3)})
>>> tree["w"].tolist(), meta, latest_step(d)
([1.0, 1.0, 1.0], {'epoch': 2}, 10)
"""

import hashlib
import json
import operator
import os
import pathlib
import re
import secrets
from collections.abc import Iterable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import safetensors
import safetensors.numpy

from jaxnn._tree import path_str
from jaxnn._typing import PyTree
from jaxnn.layers import _positive_int

FORMAT = "jaxnn.checkpoint"
FORMAT_VERSION = 1

_PREFIX = "ckpt_"
_SUFFIX = ".safetensors"
# Exactly the names _path_for writes: 8 digits, more only without a leading zero.
# ASCII digits only (``\d`` also matches e.g. Arabic-Indic ones, which int() reads) and
# nothing after the suffix (``$`` would accept a trailing newline).
_FINAL_RE = re.compile(r"ckpt_([0-9]{8}|[1-9][0-9]{8,})\.safetensors")
_TMP_PREFIX = ".tmp-ckpt_"

# safetensors dtype codes -> numpy dtypes (ml_dtypes' via jnp for the narrow floats).
_SAFETENSORS_DTYPES = {
    "BOOL": np.dtype(bool),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16),
    "I16": np.dtype(np.int16),
    "U32": np.dtype(np.uint32),
    "I32": np.dtype(np.int32),
    "U64": np.dtype(np.uint64),
    "I64": np.dtype(np.int64),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(jnp.bfloat16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "C64": np.dtype(np.complex64),
    "F8_E4M3": np.dtype(jnp.float8_e4m3fn),
    "F8_E5M2": np.dtype(jnp.float8_e5m2),
    "F8_E4M3FNUZ": np.dtype(jnp.float8_e4m3fnuz),
    "F8_E5M2FNUZ": np.dtype(jnp.float8_e5m2fnuz),
    "F8_E8M0": np.dtype(jnp.float8_e8m0fnu),
}


### File names


def _path_for(directory: pathlib.Path, step: int) -> pathlib.Path:
    return directory / f"{_PREFIX}{step:08d}{_SUFFIX}"


def all_steps(directory: str | os.PathLike) -> list[int]:
    """Steps of the checkpoints in ``directory``, ascending.

    Temporary files of interrupted saves are not checkpoints and are not listed.

    Args:
        directory: the checkpoint directory.

    Returns:
        The sorted steps; ``[]`` when the directory holds none or does not exist.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return []
    steps = []
    for entry in directory.iterdir():
        match = _FINAL_RE.fullmatch(entry.name)
        if match and entry.is_file():
            steps.append(int(match.group(1)))
    return sorted(steps)


def latest_step(directory: str | os.PathLike) -> int | None:
    """The highest checkpointed step in ``directory``; ``None`` when there is none."""
    steps = all_steps(directory)
    return steps[-1] if steps else None


### Leaves <-> tensors


def _is_key(leaf) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _leaf_spec(leaf) -> tuple[str, tuple[int, ...]]:
    """The (dtype name, shape) a leaf is stored or expected with."""
    if not hasattr(leaf, "dtype") or not hasattr(leaf, "shape"):
        leaf = jnp.asarray(leaf)  # Python scalars take jax's canonical dtype.
    dtype = leaf.dtype
    if isinstance(dtype, np.dtype):  # stored little-endian whatever the byte order
        dtype = dtype.newbyteorder("=")
    return str(dtype), tuple(int(d) for d in leaf.shape)


def _to_numpy(leaf) -> np.ndarray:
    if _is_key(leaf):
        leaf = jax.random.key_data(leaf)
    elif not hasattr(leaf, "dtype"):
        leaf = jnp.asarray(leaf)
    array = np.asarray(leaf, order="C")
    # safetensors byte-swaps big-endian arrays; do it first so the checksum sees the
    # bytes that are written.
    return array.astype(array.dtype.newbyteorder("<"), copy=False)


def _sha256(arrays: Iterable[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.asarray(a, order="C").reshape(-1).view(np.uint8))
    return digest.hexdigest()


def _serialize(step: int, tree: PyTree, metadata: dict) -> bytes:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    leaves, tensors = [], {}
    for path, leaf in flat:
        name = path_str(path)
        if name in tensors:
            raise ValueError(
                f"two leaves of the tree have the same path string {name!r}; "
                "checkpoint keys must be unique."
            )
        dtype, shape = _leaf_spec(leaf)
        entry = {"path": name, "dtype": dtype, "shape": list(shape)}
        if _is_key(leaf):
            entry["impl"] = str(jax.random.key_impl(leaf))
        leaves.append(entry)
        tensors[name] = _to_numpy(leaf)
        if tensors[name].dtype not in _SAFETENSORS_DTYPES.values():
            raise ValueError(
                f"leaf {name} has dtype {dtype}, which a checkpoint cannot store; "
                f"supported: {sorted(str(d) for d in _SAFETENSORS_DTYPES.values())}."
            )
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "step": str(step),
        "leaves": json.dumps(leaves),
        "sha256": _sha256(tensors.values()),
        "metadata": json.dumps(metadata),
    }
    return safetensors.numpy.save(tensors, metadata=header)


### Save


def _step_index(step) -> int:
    """``step`` as an int (``operator.index``); a TypeError naming it otherwise.

    Python, NumPy and 0-d integer jax/NumPy arrays (e.g. a train state's ``step``)
    are integers; a bool is not, although ``operator.index(True)`` is 1.
    """
    try:
        if isinstance(step, bool):
            raise TypeError
        return operator.index(step)
    except TypeError:
        raise TypeError(
            f"step must be a non-negative integer; got step={step!r}."
        ) from None


def _metadata_round_trips(metadata: dict) -> None:
    """Refuse metadata that JSON would store as something else (ValueError).

    ``json.dumps`` writes every dict key as a string (``{1: "a"}`` comes back as
    ``{"1": "a"}``, and ``{1: .., "1": ..}`` loses an entry) and a tuple as a list,
    so :func:`restore` would not return the dict given to :func:`save`. Values that
    JSON cannot encode at all are left to ``json.dumps``.
    """
    stack = [(metadata, "metadata")]
    seen = set()  # by id: shared or cyclic containers are checked once
    while stack:
        value, where = stack.pop()
        if id(value) in seen:
            continue
        if isinstance(value, dict):
            seen.add(id(value))
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(
                        f"metadata keys must be strings: JSON stores every key as a "
                        f"string, so restore would not give key {key!r} "
                        f"({type(key).__name__}) back; got key {key!r} in {where}."
                    )
                stack.append((item, f"{where}[{key!r}]"))
        elif isinstance(value, tuple):
            raise ValueError(
                f"metadata must hold lists, not tuples: JSON stores a tuple as a "
                f"list, so restore would give a list back; got {where}={value!r}."
            )
        elif isinstance(value, list):
            seen.add(id(value))
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))


def _fsync_directory(directory: pathlib.Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):  # Windows cannot open a directory to fsync it.
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_temporaries(directory: pathlib.Path) -> None:
    for entry in directory.iterdir():
        if entry.name.startswith(_TMP_PREFIX):
            entry.unlink(missing_ok=True)


def _write_atomically(path: pathlib.Path, data: bytes) -> None:
    """Write ``path`` so that it holds either its old bytes or ``data``, never part.

    The temporary file is ``.tmp-{name}-{random}`` beside it, created with mode 0o666
    less the umask, as ``open`` would (``tempfile.mkstemp`` would give 0o600).
    """
    tmp = path.with_name(f".tmp-{path.name}-{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def save(
    directory: str | os.PathLike,
    step: int,
    tree: PyTree,
    *,
    keep: int = 3,
    metadata: dict | None = None,
) -> pathlib.Path:
    """Atomically write ``tree`` as checkpoint ``step``; keep the ``keep`` highest steps.

    Creates ``directory`` when needed and removes temporary files left by interrupted
    saves. After the new file is in place, checkpoints beyond the ``keep`` highest steps
    are deleted (the one just written is always kept). Saving a step that exists
    replaces it atomically.

    Args:
        directory: the checkpoint directory.
        step: a non-negative integer, e.g. the number of optimizer steps taken.
        tree: any pytree of arrays, numpy arrays, Python scalars and typed PRNG keys
            (``jax.random.key``); empty subtrees (``()``, ``None``, empty NamedTuples)
            are allowed.
        keep: how many checkpoints to keep, at least 1.
        metadata: JSON-serialisable dict returned by :func:`restore` (e.g. the config):
            string keys at every level and lists, not tuples, since JSON would
            store other keys as strings and tuples as lists.

    Returns:
        The path of the written checkpoint file.

    Raises:
        TypeError: ``step`` not an integer (a bool is not one).
        ValueError: ``keep`` not a positive int, a negative step, metadata that is not
            a dict, that JSON cannot encode or would not give back unchanged (a
            non-string key or a tuple, at any depth), two leaves with the same path
            string, or a leaf dtype that safetensors cannot store (e.g. ``complex128``,
            ``int4``). Nothing is written or deleted then.
    """
    step = _step_index(step)
    if step < 0:
        raise ValueError(f"step must be a non-negative integer; got step={step}.")
    _positive_int("keep", keep)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):  # restore would refuse the file it writes
        raise ValueError(
            f"metadata must be a dict; got metadata={metadata!r} "
            f"({type(metadata).__name__})."
        )
    _metadata_round_trips(metadata)
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as err:
        raise ValueError(f"metadata must be JSON-serialisable; got {err}.") from err
    data = _serialize(step, tree, metadata)

    directory = pathlib.Path(directory)
    created = [d for d in (directory, *directory.parents) if not d.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    for new in reversed(created):  # make each new directory's own entry durable
        _fsync_directory(new.parent)
    _remove_temporaries(directory)
    path = _path_for(directory, step)
    _write_atomically(path, data)

    stale = [s for s in all_steps(directory)[:-keep] if s != step]
    for old in stale:
        _path_for(directory, old).unlink(missing_ok=True)
    if stale:
        _fsync_directory(directory)
    return path


### Restore


class _Contents(NamedTuple):
    tensors: dict[str, np.ndarray]
    version: int
    step: int
    leaves: list[dict]
    sha256: str
    metadata: dict


def _parse(data: bytes) -> _Contents:
    """Decode a checkpoint file's bytes; any exception means an unreadable file."""
    tensors = {}
    for name, view in safetensors.deserialize(data):
        dtype = _SAFETENSORS_DTYPES[view["dtype"]]
        tensors[name] = np.frombuffer(view["data"], dtype).reshape(view["shape"])
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len]).get("__metadata__") or {}
    if header.get("format") != FORMAT:
        raise ValueError(f"no {FORMAT!r} format tag in the header")
    leaves = json.loads(header["leaves"])
    for leaf in leaves:
        fields = [leaf["path"], leaf["dtype"], leaf.get("impl", "")]
        if not all(isinstance(f, str) for f in fields) or not (
            isinstance(leaf["shape"], list)
            and all(isinstance(d, int) for d in leaf["shape"])
        ):
            raise ValueError(f"malformed leaf entry {leaf}")
    names = [leaf["path"] for leaf in leaves]
    if sorted(names) != sorted(tensors):
        raise ValueError(
            f"its leaf list {sorted(names)} does not match its tensors "
            f"{sorted(tensors)}"
        )
    for leaf in leaves:
        stored = tensors[leaf["path"]].shape
        if "impl" not in leaf and stored != tuple(leaf["shape"]):
            raise ValueError(
                f"leaf {leaf['path']} is recorded with shape {leaf['shape']} "
                f"but stored with shape {stored}"
            )
    metadata = json.loads(header["metadata"])
    if not isinstance(metadata, dict):
        raise ValueError(f"its metadata {metadata!r} is not a dict")
    return _Contents(
        tensors=tensors,
        version=int(header["format_version"]),
        step=int(header["step"]),
        leaves=leaves,
        sha256=str(header["sha256"]),
        metadata=metadata,
    )


def _read(path: pathlib.Path) -> _Contents:
    """The verified contents of a checkpoint file; ValueError naming it otherwise."""
    try:
        contents = _parse(path.read_bytes())
    except KeyError as err:
        raise ValueError(
            f"checkpoint file {path} is truncated or corrupted: missing entry {err}"
        ) from err
    except (safetensors.SafetensorError, ValueError, TypeError) as err:
        raise ValueError(
            f"checkpoint file {path} is truncated or corrupted: {err}"
        ) from err
    if not 1 <= contents.version <= FORMAT_VERSION:
        newer = contents.version > FORMAT_VERSION
        raise ValueError(
            f"checkpoint file {path} has format version {contents.version}; this "
            f"jaxnn reads versions 1 to {FORMAT_VERSION}."
            + (" Upgrade jaxnn to restore it." if newer else "")
        )
    digest = _sha256(contents.tensors[leaf["path"]] for leaf in contents.leaves)
    if digest != contents.sha256:
        raise ValueError(
            f"checkpoint file {path} failed its checksum: the tensor data has sha256 "
            f"{digest} but the header records {contents.sha256}; the file is corrupted."
        )
    return contents


def _check_structure(path: pathlib.Path, saved: list[dict], target_flat: list) -> None:
    saved_paths = [leaf["path"] for leaf in saved]
    target_paths = [path_str(p) for p, _ in target_flat]
    if saved_paths != target_paths:
        missing = [p for p in target_paths if p not in saved_paths]
        extra = [p for p in saved_paths if p not in target_paths]
        raise ValueError(
            f"checkpoint file {path} does not match the target's tree structure: "
            f"leaves missing from the checkpoint: {missing}; leaves in the checkpoint "
            f"but not in the target: {extra}"
            + ("" if missing or extra else "; the leaves are in a different order")
            + "."
        )
    for entry, (p, leaf) in zip(saved, target_flat, strict=True):
        dtype, shape = _leaf_spec(leaf)
        found_shape = tuple(entry["shape"])
        if found_shape != shape:
            raise ValueError(
                f"checkpoint file {path} does not match the target: leaf "
                f"{path_str(p)} has shape {found_shape} in the checkpoint but {shape} "
                "in the target."
            )
        if entry["dtype"] != dtype:
            raise ValueError(
                f"checkpoint file {path} does not match the target: leaf "
                f"{path_str(p)} has dtype {entry['dtype']} in the checkpoint but "
                f"{dtype} in the target."
            )
        impl = str(jax.random.key_impl(leaf)) if _is_key(leaf) else None
        if entry.get("impl") != impl:
            raise ValueError(
                f"checkpoint file {path} does not match the target: leaf "
                f"{path_str(p)} has PRNG implementation {entry.get('impl')} in the "
                f"checkpoint but {impl} in the target."
            )


def _restore_leaf(entry: dict, data: np.ndarray, target):
    if _is_key(target):
        key = jax.random.wrap_key_data(jnp.asarray(data), impl=entry["impl"])
        return jax.device_put(key, target.sharding)
    if isinstance(target, jax.Array):
        return jax.device_put(data, target.sharding)
    if isinstance(target, np.ndarray | np.generic):
        return np.array(data)
    return jnp.asarray(data)


def restore(
    directory: str | os.PathLike, target: PyTree, *, step: int | None = None
) -> tuple[PyTree, dict]:
    """Load a checkpoint into the structure of ``target``.

    Args:
        directory: the checkpoint directory.
        target: a pytree with the saved tree's structure, leaf shapes and dtypes (e.g. a
            freshly initialised state); its values are not used.
        step: the step to load; ``None`` loads the latest.

    Returns:
        ``(tree, metadata)``: the restored tree, bit-identical to the saved one, with
        ``target``'s structure (``jax.Array`` leaves, or ``numpy.ndarray`` where the
        target leaf is one), and the ``metadata`` dict given to :func:`save`.

    Raises:
        FileNotFoundError: the directory holds no checkpoint, or none for ``step``;
            the message lists the available steps.
        NotADirectoryError: ``directory`` is a file.
        ValueError: the file is truncated or corrupted, fails its checksum, has an
            unknown format version or the step of another file name, or does not
            match ``target`` (the message names the file and the first differing leaf).
    """
    directory = pathlib.Path(directory)
    steps = all_steps(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(
            f"checkpoint directory {directory} is a file, not a directory."
        )
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory {directory} does not exist.")
    if not steps:
        raise FileNotFoundError(
            f"no checkpoint in {directory} (no file named {_PREFIX}<step>{_SUFFIX})."
        )
    if step is None:
        step = steps[-1]
    path = _path_for(directory, _step_index(step))
    if step not in steps:
        raise FileNotFoundError(
            f"no checkpoint for step {step} in {directory} ({path.name} does not "
            f"exist); available steps: {steps}."
        )
    contents = _read(path)
    if contents.step != step:
        raise ValueError(
            f"checkpoint file {path} records step {contents.step}, not the step "
            f"{step} of its name; it was renamed or copied there."
        )
    target_flat, treedef = jax.tree_util.tree_flatten_with_path(target)
    _check_structure(path, contents.leaves, target_flat)
    leaves = [
        _restore_leaf(entry, contents.tensors[entry["path"]], leaf)
        for entry, (_, leaf) in zip(contents.leaves, target_flat, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, leaves), contents.metadata
