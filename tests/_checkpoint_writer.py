"""Helper for tests/test_checkpoint.py: a process that gets killed while saving.

Usage: ``python tests/_checkpoint_writer.py DIR MEGABYTES``. Saves a small step 1,
prints ``saved 1``, then saves a ``MEGABYTES``-sized tree as step 2 over and over until
it is killed.
"""

import sys

import numpy as np

from jaxnn import checkpoint


def main(directory: str, megabytes: int) -> None:
    checkpoint.save(directory, 1, {"w": np.arange(10.0)}, metadata={"note": "small"})
    print("saved 1", flush=True)
    big = {"w": np.zeros(megabytes * 2**20 // 8)}
    while True:
        checkpoint.save(directory, 2, big)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
