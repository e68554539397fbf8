"""Help screens in plain words: ``--top N``, ``PATH``, flags without a type, the way people write usage lines.

Newer Typer releases print Python types (``<bool>``, ``<str>``, ``<int range>``) beside options and braces
around required arguments (``{path}``). Every ``exact-online`` command and group is built with the classes below,
which give each parameter a metavar of its own (the one its declaration chose, else a word for its type) and show
flags without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args, get_origin

from typer.core import TyperCommand, TyperGroup

__all__ = ["Command", "Group"]

_TYPE_WORDS = {int: "INTEGER", float: "NUMBER", bool: "BOOLEAN", str: "TEXT"}
_CLICK_TYPE_WORDS = {"integer": "INTEGER", "float": "NUMBER", "boolean": "BOOLEAN", "text": "TEXT", "path": "PATH"}


def _choices_word(choices: Sequence[Any]) -> str:
    return "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"


def _type_word(param: Any) -> str:
    descriptor = getattr(param, "type_descriptor", None)  # Typer >= 0.2x describes the annotation
    if descriptor is not None:
        if descriptor.is_choice and descriptor.choices:
            return _choices_word(descriptor.choices)
        if descriptor.is_path:
            return "PATH"
        annotation = descriptor.annotation
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        return _TYPE_WORDS.get(annotation, "TEXT")
    kind = getattr(param, "type", None)  # older Typer: a click ParamType
    choices = getattr(kind, "choices", None)
    if choices:
        return _choices_word(choices)
    return _CLICK_TYPE_WORDS.get(str(getattr(kind, "name", "")).lower(), "TEXT")


def _no_type(ctx: Any) -> str:
    return ""


def _tidy(params: Sequence[Any]) -> list[Any]:
    for param in params:
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = str(param.name).upper()
            # the name column already shows the metavar; the type column would repeat it as <str>
            param.display_type_rich = _no_type
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = _type_word(param)
    return list(params)


class Command(TyperCommand):
    """A command whose help names values in words and writes required arguments bare (``get [OPTIONS] PATH``).

    Running it records its name (``"auth login"``) in ``STATE.command``, so error hints can fit the command."""

    def invoke(self, ctx: Any) -> Any:
        from ._common import STATE

        STATE.command = " ".join(str(ctx.command_path).split()[1:])
        return super().invoke(ctx)

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                pieces.extend(param.get_usage_pieces(ctx))
                continue
            name = param.metavar + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
        return pieces


class Group(TyperGroup):
    """A command group with the same help conventions as :class:`Command`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))
