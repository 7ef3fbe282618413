"""Before `make run`: a damaged model file is removed (so it is retrained), with one line."""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path


def main(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with tarfile.open(path, "r:gz") as archive:
            ok = any(name.endswith("metadata.json") for name in archive.getnames())
    except (tarfile.TarError, OSError, EOFError):
        ok = False
    if not ok:
        print(
            f"rehber: the model file {path} is damaged or not a Rasa model; "
            "removing it and retraining"
        )
        path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
