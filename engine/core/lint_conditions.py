"""Can a gateway's conditions all be false? A small, conservative check of condition expressions.

A gateway without a default flow fails at run time ("No conditions satisfied") when none of its
conditions holds. :func:`coverage` answers whether some condition holds for every value the variables
can take, by trying representative values: every constant a condition compares a variable with, the
numbers on either side of each bound, "something else" and "empty", or, when a form fixes a field's
values (an ``enum``, ``oneOf`` constants, a boolean), exactly those values. Expressions it does not
understand count as "may be false", so the answer "covered" is a proof and "not covered" may be a
false alarm (a warning, not an error).
"""

from __future__ import annotations

import ast
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: the most combinations of representative values tried before giving up (answer: not covered)
MAX_COMBINATIONS = 4_096


class _Other:
    """A value equal to no constant of the conditions ("something else")."""

    def __init__(self, truthy: bool, words: str):
        self.truthy, self.words = truthy, words

    def __bool__(self) -> bool:
        return self.truthy

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)

    def __lt__(self, other: object) -> bool:
        raise TypeError("not ordered")

    __le__ = __gt__ = __ge__ = __lt__


class _Unknown(Exception):
    """The expression uses something this check does not model."""


@dataclass(frozen=True)
class Coverage:
    covered: bool
    #: when not covered and a case was found: the values for which no condition holds, in words
    counterexample: str | None = None


def coverage(conditions: list[str], domains: dict[str, tuple[Any, ...]] | None = None) -> Coverage:
    """Whether at least one of ``conditions`` (Python expressions) holds whatever the variables hold.

    ``domains`` maps a variable as written in a condition (``decision``, ``review['outcome']``) to every
    value it can take."""
    domains = domains or {}
    try:
        trees = [ast.parse(c.strip(), mode="eval").body for c in conditions]
    except SyntaxError:
        return Coverage(False)
    points: dict[str, list[Any]] = {}
    for tree in trees:
        _collect(tree, points)
    for key in points:
        if key in domains:
            points[key] = list(domains[key])
    keys = sorted(points)
    total = math.prod(len(points[k]) for k in keys) if keys else 1
    if total > MAX_COMBINATIONS:
        return Coverage(False)
    for values in itertools.product(*(points[k] for k in keys)):
        env = dict(zip(keys, values, strict=True))
        if not any(_holds(tree, env) for tree in trees):
            return Coverage(False, _words(env, points))
    return Coverage(True)


def form_domains(schemas: Iterable[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """The values each form field can take where a form fixes them, keyed as conditions write them:
    ``decision``, ``review['outcome']``. A field in several forms takes the union of their values."""
    out: dict[str, list[Any]] = {}

    def walk(schema: Any, key: str) -> None:
        if not isinstance(schema, dict):
            return
        values = _fixed_values(schema)
        if values is not None and key:
            known = out.setdefault(key, [])
            known.extend(v for v in values if v not in known)
        for name, sub in (schema.get("properties") or {}).items():
            walk(sub, f"{key}[{name!r}]" if key else str(name))

    for schema in schemas:
        walk(schema, "")
    return {k: tuple(v) for k, v in out.items()}


def _fixed_values(schema: dict[str, Any]) -> list[Any] | None:
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    options = schema.get("oneOf") or schema.get("anyOf")
    if isinstance(options, list) and options and all(isinstance(o, dict) and "const" in o for o in options):
        return [o["const"] for o in options]
    if schema.get("type") == "boolean":
        return [True, False]
    return None


# --------------------------------------------------------------------------- representative values

def _is_bool_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "bool"
            and len(node.args) == 1 and not node.keywords)


def _atom(node: ast.AST) -> str | None:
    """The expression an operand reads as one opaque value (``x``, ``a['b']``, ``len(x)``, ``f(x)``), keyed
    by its source; None for the logic around it (``and``, ``not``, comparisons, constants). Atoms vary
    independently, which can only add cases, so "covered" stays a proof."""
    if not isinstance(node, ast.expr) or isinstance(node, ast.BoolOp | ast.Compare | ast.Constant | ast.Tuple
                                                     | ast.List | ast.Set):
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) or _is_bool_call(node):
        return None
    return ast.unparse(node)


def _constants(node: ast.AST) -> list[Any] | None:
    if isinstance(node, ast.Constant):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and all(isinstance(e, ast.Constant) for e in node.elts):
        return [e.value for e in node.elts]  # type: ignore[attr-defined]
    return None


def _add(points: dict[str, list[Any]], key: str, values: Iterable[Any]) -> None:
    known = points.setdefault(key, [])
    for value in values:
        if not any(type(value) is type(k) and value == k for k in known):
            known.append(value)


def _collect(tree: ast.AST, points: dict[str, list[Any]]) -> None:
    """Representative values for every atom ``tree`` reads."""
    key = _atom(tree)
    if key is not None:
        points.setdefault(key, [])
        _add(points, key, [_Other(True, "set"), _Other(False, "empty")])
        return
    if isinstance(tree, ast.Compare):
        operands = [tree.left, *tree.comparators]
        for left, op, right in zip(operands, tree.ops, operands[1:], strict=False):
            for side, other in ((left, right), (right, left)):
                key, constants = _atom(side), _constants(other)
                if key is None:
                    continue
                points.setdefault(key, [])
                if constants is None:
                    continue
                if isinstance(op, ast.In | ast.NotIn) and side is right:  # the atom is the container
                    _add(points, key, [tuple(constants), (), *((c,) for c in constants)])
                    continue
                numeric = all(isinstance(c, int | float) and not isinstance(c, bool) for c in constants)
                if isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE) or numeric:
                    _add(points, key, _around(constants, non_negative=key.startswith("len(")))
                else:
                    _add(points, key, constants)
                    _add(points, key, [_Other(True, "")])
        for operand in operands:
            if _atom(operand) is None:
                _collect(operand, points)
        for key, values in points.items():
            if not values:
                _add(points, key, [_Other(True, "set"), _Other(False, "empty")])
        return
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.expr):
            _collect(child, points)


def _around(constants: list[Any], non_negative: bool) -> list[Any]:
    out: list[Any] = []
    for c in constants:
        if isinstance(c, bool) or not isinstance(c, int | float):
            continue
        step = 1 if isinstance(c, int) else max(abs(c), 1.0) * 1e-9
        out.extend(v for v in (c - step, c, c + step) if not (non_negative and v < 0))
    return out


def _words(env: dict[str, Any], points: dict[str, list[Any]]) -> str:
    parts = []
    for key, value in env.items():
        if isinstance(value, _Other):
            constants = [repr(v) for v in points[key] if not isinstance(v, _Other)]
            if value.words == "empty":
                parts.append(f"{key} is empty or false")
            elif constants:
                parts.append(f"{key} is none of {', '.join(constants)}")
            else:
                parts.append(f"{key} is set")
        else:
            parts.append(f"{key} is {value!r}")
    return " and ".join(parts)


# --------------------------------------------------------------------------- evaluating

_COMPARE = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b, ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
}


def _holds(tree: ast.AST, env: dict[str, Any]) -> bool:
    try:
        return bool(_value(tree, env))
    except (_Unknown, TypeError):
        return False


def _value(node: ast.AST, env: dict[str, Any]) -> Any:
    key = _atom(node)
    if key is not None and key in env:
        return env[key]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return tuple(_value(e, env) for e in node.elts)
    if isinstance(node, ast.BoolOp):
        values = (_value(v, env) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _value(node.operand, env)
    if isinstance(node, ast.Call) and _is_bool_call(node):
        return bool(_value(node.args[0], env))
    if isinstance(node, ast.Compare):
        left = _value(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _value(comparator, env)
            compare = _COMPARE.get(type(op))
            if compare is None or not compare(left, right):
                return False
            left = right
        return True
    raise _Unknown(ast.dump(node)[:40])
