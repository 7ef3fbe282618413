"""YAML loading that remembers where each value came from (file and line).

Content files are edited by people, not developers: a mistake must be reported as
"content/services/bursa.yml:42: services[0].phones[1].number: ...", never as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml

PathPart = Union[str, int]


@dataclass(frozen=True)
class ContentError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ContentErrors(Exception):
    """One or more content errors, each naming file, line and field."""

    def __init__(self, errors: list[ContentError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def field_name(path: tuple[PathPart, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class SourceMap:
    """Line numbers (1-based) of every mapping key and sequence item in a YAML document."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[tuple[PathPart, ...], int] = {}

    def line(self, path: tuple[PathPart, ...]) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def error(self, path: tuple[PathPart, ...], message: str) -> ContentError:
        return ContentError(self.file, self.line(path), field_name(path), message)


def _walk(node: yaml.Node, path: tuple[PathPart, ...], source: SourceMap) -> None:
    source.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            source.lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), source)


def load(path: Path, display_name: str | None = None) -> tuple[Any, SourceMap]:
    """Parses a YAML file; raises ContentErrors (with the line) if it is not valid YAML."""
    name = display_name or str(path)
    source = SourceMap(name)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ContentErrors(
            [ContentError(name, 0, "", f"not UTF-8 text ({error.reason})")]
        ) from error
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(error, "problem", None) or str(error)
        raise ContentErrors([ContentError(name, line, "", f"invalid YAML: {problem}")]) from error
    if node is not None:
        _walk(node, (), source)
    return data, source
