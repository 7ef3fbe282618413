"""Set-up and start-up problems give one readable line, not a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=120,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() + result.stdout.splitlines() if line]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_missing_python_310(tmp_path: Path) -> None:
    result = run(
        ["/bin/sh", "scripts/find-python310"],
        PATH="/usr/bin:/bin",
        HOME=str(tmp_path),
        PYTHON310="",
        PYENV_ROOT=str(tmp_path),
    )
    assert result.returncode == 1
    assert "Python 3.10 is required" in one_line(result)


def test_port_in_use_for_the_app(busy_port: int) -> None:
    result = run([sys.executable, "-m", "bot"], REHBER_PORT=str(busy_port))
    assert result.returncode == 2
    assert f"port {busy_port}" in one_line(result) and "already in use" in one_line(result)


def test_port_in_use_for_rasa(busy_port: int, tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    shutil.copy(ROOT / "models" / "rehber.tar.gz", model)
    result = run(
        [str(RASA_PY), "scripts/rasa_serve.py"], RASA_PORT=str(busy_port), REHBER_MODEL=str(model)
    )
    assert result.returncode == 2
    assert "already in use" in one_line(result)


def test_corrupt_model_file(tmp_path: Path) -> None:
    model = tmp_path / "rehber.tar.gz"
    model.write_bytes(b"\x1f\x8b this is not a model")
    served = run([str(RASA_PY), "scripts/rasa_serve.py"], REHBER_MODEL=str(model))
    assert served.returncode == 2 and "is damaged" in one_line(served)
    checked = run([str(RASA_PY), "scripts/check_model.py", str(model)])
    assert "removing it and retraining" in one_line(checked)
    assert not model.exists()  # make run retrains it next


def test_preflight_reports_busy_ports_and_content_errors(busy_port: int) -> None:
    result = run([sys.executable, "scripts/preflight.py"], REHBER_PORT=str(busy_port))
    assert result.returncode == 2
    assert f"port {busy_port}" in result.stderr and "Traceback" not in result.stderr


def test_seed_with_broken_content_names_the_place(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content", content)
    (content / "services" / "broken.yml").write_text(
        "organization:\n  id: x\n  name: {tr: X}\nservices:\n  - id: s\n    name: {tr: S}\n"
        "    description: {tr: D}\n    categories: [magic]\n",
        encoding="utf-8",
    )
    result = run(
        [sys.executable, "-m", "service_catalogue", "--content", str(content), "seed"],
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
    )
    assert result.returncode == 2
    assert "content/services/broken.yml:8: services[0].categories" in result.stderr
    assert "Traceback" not in result.stderr


def test_reused_schema_validators_still_reject_bad_responses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Rasa launcher's faster jsonschema.validate keeps the same verdicts."""
    import importlib.util

    import jsonschema

    monkeypatch.setattr(jsonschema, "validate", jsonschema.validate)  # restored afterwards
    spec = importlib.util.spec_from_file_location("rasa_serve", ROOT / "scripts" / "rasa_serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.reuse_schema_validators()
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    for _ in range(3):
        jsonschema.validate({"text": "مرحبا"}, dict(schema))
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"text": 5}, dict(schema))
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({}, dict(schema))
