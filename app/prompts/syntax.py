"""The webui's prompt language, parsed the way AUTOMATIC1111's webui parses it.

Two passes, as in the webui:

1. ``prompt_schedules(prompt, steps)``: prompt editing (``[from:to:when]``, ``[to:when]``,
   ``[from::when]``) and alternation (``[a|b]``) resolve the prompt into plain texts, each
   with the last step it is used for: ``[[end_at_step, text], ...]``.
2. ``parse_attention(text)``: emphasis ``(x)``, ``[x]``, ``(x:1.3)``, escapes and ``BREAK``
   turn one text into ``[[text, weight], ...]`` runs (``["BREAK", -1]`` marks a new chunk).

Pure Python, so the window can show a parse without importing torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUND = 1.1
SQUARE = 1 / 1.1

# One token of the emphasis language, tried in this order (the webui's order).
_ATTENTION = re.compile(
    r"\\[()\[\]\\]"  # an escaped bracket or backslash: the character itself
    r"|\\"  # a lone backslash: dropped
    r"|[(\[]"  # opening brackets
    r"|:\s*(?P<weight>[+-]?[.\d]+)\s*\)"  # ":1.3)" closes a round bracket with a weight
    r"|[)\]]"  # closing brackets
    r"|[^\\()\[\]:]+"  # plain text
    r"|:"  # a colon that is not a weight
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_attention(text: str) -> list[list[str | float]]:
    """``[[text, weight], ...]`` exactly as the webui's ``parse_prompt_attention``.

    Weights multiply when a bracket closes (so floats come out bit for bit as the webui's);
    brackets left open are closed at the end; equal-weight neighbours are merged.
    """
    runs: list[list[str | float]] = []
    opened_round: list[int] = []
    opened_square: list[int] = []

    def scale_from(start: int, factor: float) -> None:
        for run in runs[start:]:
            run[1] = float(run[1]) * factor

    for match in _ATTENTION.finditer(text):
        token = match.group(0)
        weight = match.group("weight")
        if token.startswith("\\"):
            runs.append([token[1:], 1.0])
        elif token == "(":
            opened_round.append(len(runs))
        elif token == "[":
            opened_square.append(len(runs))
        elif weight is not None and opened_round and _is_float(weight):
            scale_from(opened_round.pop(), float(weight))
        elif token == ")" and opened_round:
            scale_from(opened_round.pop(), ROUND)
        elif token == "]" and opened_square:
            scale_from(opened_square.pop(), SQUARE)
        else:
            for i, part in enumerate(_BREAK.split(token)):
                if i:
                    runs.append(["BREAK", -1])
                runs.append([part, 1.0])
    for start in opened_round:
        scale_from(start, ROUND)
    for start in opened_square:
        scale_from(start, SQUARE)
    if not runs:
        runs = [["", 1.0]]
    merged = [runs[0]]
    for run in runs[1:]:
        if merged[-1][1] == run[1]:
            merged[-1][0] = str(merged[-1][0]) + str(run[0])
        else:
            merged.append(run)
    return merged


def _is_float(text: str) -> bool:
    # The webui would crash on "(x:1..2)"; we read it as text instead.
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- prompt editing ------------------------------------------------------------------------
_NUMBER = re.compile(r"\s*([+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)\s*\]")
_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+")


@dataclass
class _Scheduled:
    before: list[object]
    after: list[object]
    when: str
    at: int = 0


@dataclass
class _Alternate:
    options: list[list[object]]


class _Fail(Exception):
    pass


class _ScheduleParser:
    """Recursive descent over the webui's grammar: inside brackets every bracket, colon and
    bar must belong to a construct; at the top level a stray bracket or colon is text, and
    anything else that fits nowhere (a bare ``|``) means the prompt is not scheduled."""

    def __init__(self, text: str) -> None:
        self.text = text

    def top(self) -> list[object]:
        nodes: list[object] = []
        i, n = 0, len(self.text)
        while i < n:
            try:
                i = self._prompt(i, nodes)
            except _Fail:
                pass
            if i < n:
                ch = self.text[i]
                if ch in "[]():":
                    nodes.append(ch)
                    i += 1
                else:
                    raise _Fail
        return nodes

    def _prompt(self, i: int, nodes: list[object]) -> int:
        """Parse a ``prompt`` (possibly empty) from i; returns where it stopped."""
        while i < len(self.text):
            ch = self.text[i]
            if ch == "(":
                sub: list[object] = []
                try:
                    j = self._round(i, sub)
                except _Fail:
                    return i
                nodes.extend(sub)
                i = j
            elif ch == "[":
                sub = []
                try:
                    j = self._square(i, sub)
                except _Fail:
                    return i
                nodes.extend(sub)
                i = j
            else:
                m = _PLAIN.match(self.text, i)
                if m is None:
                    return i
                nodes.append(m.group(0))
                i = m.end()
        return i

    def _round(self, i: int, out: list[object]) -> int:
        inner: list[object] = []
        j = self._prompt(i + 1, inner)
        if j < len(self.text) and self.text[j] == ")":
            out.extend(["(", *inner, ")"])
            return j + 1
        if j < len(self.text) and self.text[j] == ":":
            second: list[object] = []
            k = self._prompt(j + 1, second)
            if k < len(self.text) and self.text[k] == ")":
                out.extend(["(", *inner, ":", *second, ")"])
                return k + 1
        raise _Fail

    def _square(self, i: int, out: list[object]) -> int:
        first: list[object] = []
        j = self._prompt(i + 1, first)
        if j >= len(self.text):
            raise _Fail
        ch = self.text[j]
        if ch == "]":
            out.extend(["[", *first, "]"])
            return j + 1
        if ch == "|":
            options = [first]
            while j < len(self.text) and self.text[j] == "|":
                option: list[object] = []
                j = self._prompt(j + 1, option)
                options.append(option)
            if j < len(self.text) and self.text[j] == "]":
                out.append(_Alternate(options))
                return j + 1
            raise _Fail
        if ch != ":":
            raise _Fail
        m = _NUMBER.match(self.text, j + 1)
        if m:  # [to:when]
            out.append(_Scheduled([], first, m.group(1)))
            return m.end()
        second: list[object] = []
        k = self._prompt(j + 1, second)
        if k < len(self.text) and self.text[k] == ":":
            m = _NUMBER.match(self.text, k + 1)
            if m:  # [from:to:when]
                out.append(_Scheduled(first, second, m.group(1)))
                return m.end()
        raise _Fail


def prompt_schedules(prompt: str, steps: int) -> list[tuple[int, str]]:
    """``[(end_at_step, text), ...]`` as the webui's ``get_learned_conditioning_prompt_schedules``.

    ``when`` with a decimal point is a fraction of the steps, without one a step number (the
    webui's current rule; for 0.5 or 10 it is the same as "< 1 is a fraction"). Text i is
    used while the 0-based sampling step is <= its end_at_step, the webui's convention.
    """
    try:
        tree = _ScheduleParser(prompt).top()
    except _Fail:
        return [(steps, prompt)]
    ends = {steps}

    def collect(nodes: list[object]) -> None:
        for node in nodes:
            if isinstance(node, _Scheduled):
                v = float(node.when)
                v = v * steps if "." in node.when else v
                node.at = min(steps, int(v))
                if node.at >= 1:
                    ends.add(node.at)
                collect(node.before)
                collect(node.after)
            elif isinstance(node, _Alternate):
                ends.update(range(1, steps + 1))
                for option in node.options:
                    collect(option)

    collect(tree)

    def render(nodes: list[object], step: int) -> str:
        parts: list[str] = []
        for node in nodes:
            if isinstance(node, str):
                parts.append(node)
            elif isinstance(node, _Scheduled):
                parts.append(render(node.before if step <= node.at else node.after, step))
            elif isinstance(node, _Alternate):
                parts.append(render(node.options[(step - 1) % len(node.options)], step))
        return "".join(parts)

    return [(end, render(tree, end)) for end in sorted(ends)]


def text_at_step(schedule: list[tuple[int, str]], step: int) -> int:
    """Index of the schedule entry used at 0-based sampling step ``step``."""
    for index, (end, _text) in enumerate(schedule):
        if step <= end:
            return index
    return 0
