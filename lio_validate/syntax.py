"""Parse lavaan model syntax into a flat list of formula terms.

The parser reads the operators of lavaan 0.6 that the package estimates:
``=~`` (measurement), ``~`` (regression), ``~~`` (variance and covariance),
``~ 1`` (intercept), ``|`` (thresholds) and ``:=`` (defined parameters), with the
modifiers ``1*x`` (fixed value), ``NA*x`` (free), ``a*x`` (label),
``c(a1, a2)*x`` (one value per group) and ``start(0.5)*x`` (start value).
Comments start with ``#`` or ``!``; formulas may span lines and ``;`` separates
formulas on one line. Nothing in the text is executed: ``:=`` expressions are
read with :mod:`ast` and evaluated by a small whitelisted interpreter.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
Journal of Statistical Software, 48(2), 1-36. Section 4 describes the syntax.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import numpy as np

from lio_validate.exceptions import ModelSyntaxError

__all__ = ["FormulaTerm", "Definition", "ParsedModel", "parse_model", "Expression"]

# Longest operators first, so that "=~" is not read as "~" and "~~" not as "~".
_OPERATORS = ("=~", "~~", ":=", "~", "|", "==", "<", ">")
_SUPPORTED = ("=~", "~~", "~", "~1", "|", ":=")
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class FormulaTerm:
    """One parameter written by the user, e.g. ``visual =~ a*x2``.

    ``fixed`` and ``label`` are tuples with one entry or one entry per group
    (lavaan's ``c(...)`` modifier); ``None`` entries mean "not given".
    """

    lhs: str
    op: str
    rhs: str
    line: int
    text: str
    fixed: tuple[float | None, ...] = (None,)
    label: tuple[str | None, ...] = (None,)
    start: tuple[float | None, ...] = (None,)
    free: bool = False


@dataclass(frozen=True)
class Definition:
    """A defined parameter ``name := expression``."""

    name: str
    expression: "Expression"
    line: int
    text: str


@dataclass(frozen=True)
class ParsedModel:
    """The terms and definitions of a model text, in the order written."""

    terms: tuple[FormulaTerm, ...]
    definitions: tuple[Definition, ...]
    text: str = field(repr=False)


# --------------------------------------------------------------------------
# Statements: comments, continuation lines, ';'
# --------------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    # Model text has no string literals except inside modifiers such as
    # equal("..."), which this parser does not accept, so a plain cut is safe.
    for mark in ("#", "!"):
        position = line.find(mark)
        if position >= 0:
            line = line[:position]
    return line.strip()


def _find_operator(statement: str) -> tuple[str, int] | None:
    for index in range(len(statement)):
        for op in _OPERATORS:
            if statement.startswith(op, index):
                return op, index
    return None


def _split_statements(text: str) -> list[tuple[int, str]]:
    """Join continuation lines and split on ';'; return (line number, text)."""
    statements: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        for part in _strip_comment(raw).split(";"):
            part = part.strip()
            if not part:
                continue
            continues_previous = statements and (
                statements[-1][1].rstrip().endswith(("+", "*", "=~", "~", ",", "(", ":="))
                or part.startswith(("+", "*"))
            )
            if continues_previous:
                first_line, previous = statements[-1]
                statements[-1] = (first_line, previous + " " + part)
            else:
                statements.append((number, part))
    return statements


# --------------------------------------------------------------------------
# Modifiers: 1*x, NA*x, a*x, c(a, b)*x, start(.5)*x
# --------------------------------------------------------------------------


def _parse_value(token: str) -> tuple[str, float | str | None]:
    """Classify one modifier value: ('fixed', 1.0), ('free', None), ('label', 'a')."""
    token = token.strip()
    if token.upper() == "NA":
        return "free", None
    if _NUMBER.match(token):
        return "fixed", float(token)
    if _NAME.match(token):
        return "label", token
    return "invalid", token


def _parse_modifier(modifier: str, line: int, statement: str) -> dict:
    modifier = modifier.strip()
    match = re.fullmatch(r"(c|start)\s*\((.*)\)", modifier)
    if match is not None:
        function, inside = match.groups()
        values = [_parse_value(v) for v in inside.split(",")]
        if function == "start":
            starts = []
            for kind, value in values:
                if kind != "fixed":
                    raise ModelSyntaxError(
                        f"line {line}: start() needs numbers, got {modifier!r} in "
                        f"{statement!r}"
                    )
                starts.append(value)
            return {"start": tuple(starts)}
        fixed, labels, free = [], [], False
        for kind, value in values:
            if kind == "invalid":
                raise ModelSyntaxError(
                    f"line {line}: cannot read {value!r} inside {modifier!r} in "
                    f"{statement!r}; use numbers, NA or labels"
                )
            fixed.append(value if kind == "fixed" else None)
            labels.append(value if kind == "label" else None)
            free = free or kind == "free"
        return {"fixed": tuple(fixed), "label": tuple(labels), "free": free}

    kind, value = _parse_value(modifier)
    if kind == "fixed":
        return {"fixed": (value,)}
    if kind == "free":
        return {"free": True}
    if kind == "label":
        return {"label": (value,)}
    raise ModelSyntaxError(
        f"line {line}: cannot read the modifier {modifier!r} in {statement!r}; a "
        "modifier is a number (fixed value), NA (free), a label, c(...) or start(...)"
    )


def _split_terms(side: str) -> list[str]:
    """Split a right-hand side on '+' outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in side:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "+" and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms]


def _split_star(term: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in term:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "*" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts]


def _parse_rhs_term(term: str, line: int, statement: str) -> tuple[str, dict]:
    parts = _split_star(term)
    name = parts[-1]
    if not name:
        raise ModelSyntaxError(
            f"line {line}: empty term in {statement!r}; check for a doubled '+' or a "
            "trailing '*'"
        )
    modifiers: dict = {}
    for modifier in parts[:-1]:
        for key, value in _parse_modifier(modifier, line, statement).items():
            if key == "free":
                modifiers["free"] = modifiers.get("free", False) or value
            elif key in modifiers and key != "start":
                # "a*NA*x" style: merge per position, the later modifier wins.
                merged = tuple(
                    new if new is not None else old
                    for old, new in zip(modifiers[key], value, strict=False)
                )
                modifiers[key] = merged
            else:
                modifiers[key] = value
    return name, modifiers


def _check_name(name: str, line: int, statement: str) -> None:
    if not _NAME.match(name):
        raise ModelSyntaxError(
            f"line {line}: {name!r} in {statement!r} is not a valid variable name; "
            "names start with a letter and contain letters, digits, '_' or '.'"
        )


def _parse_formula(line: int, statement: str) -> list[FormulaTerm] | Definition:
    found = _find_operator(statement)
    if found is None:
        raise ModelSyntaxError(
            f"line {line}: no operator in {statement!r}; expected one of "
            "=~  ~  ~~  ~ 1  |  :="
        )
    op, position = found
    lhs_text = statement[:position].strip()
    rhs_text = statement[position + len(op):].strip()

    if op in ("==", "<", ">"):
        raise ModelSyntaxError(
            f"line {line}: the constraint {statement!r} uses {op!r}, which this "
            "version does not estimate; use a shared label (a*x1 + a*x2) for "
            "equality instead"
        )
    if op == ":=":
        _check_name(lhs_text, line, statement)
        return Definition(lhs_text, Expression.parse(rhs_text, line, statement),
                          line, statement)
    if not lhs_text or not rhs_text:
        raise ModelSyntaxError(
            f"line {line}: {statement!r} needs a variable on both sides of {op!r}"
        )

    lhs_names = _split_terms(lhs_text)
    for name in lhs_names:
        _check_name(name, line, statement)

    terms: list[FormulaTerm] = []
    for rhs_term in _split_terms(rhs_text):
        name, modifiers = _parse_rhs_term(rhs_term, line, statement)
        actual_op, rhs_name = op, name
        if op == "~" and name == "1":
            actual_op, rhs_name = "~1", ""
        elif op == "|":
            if not re.fullmatch(r"t\d+", name):
                raise ModelSyntaxError(
                    f"line {line}: thresholds are written 'x | t1 + t2', not {name!r} "
                    f"in {statement!r}"
                )
        else:
            _check_name(name, line, statement)
        for lhs in lhs_names:
            terms.append(
                FormulaTerm(
                    lhs=lhs,
                    op=actual_op,
                    rhs=rhs_name,
                    line=line,
                    text=statement,
                    fixed=modifiers.get("fixed", (None,)),
                    label=modifiers.get("label", (None,)),
                    start=modifiers.get("start", (None,)),
                    free=modifiers.get("free", False),
                )
            )
    return terms


def parse_model(text: str) -> ParsedModel:
    """Parse lavaan model syntax.

    Parameters
    ----------
    text : str
        The model, e.g. ``"visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6"``.

    Returns
    -------
    ParsedModel
        The formula terms and defined parameters, each with its line number.

    Raises
    ------
    ModelSyntaxError
        For text that cannot be parsed, with the line and what to write instead.
    """
    if not isinstance(text, str) or not text.strip():
        raise ModelSyntaxError("the model text is empty; write at least one formula")

    statements = _split_statements(text)
    if not statements:
        raise ModelSyntaxError(
            "the model text is empty (only comments); write at least one formula"
        )
    terms: list[FormulaTerm] = []
    definitions: list[Definition] = []
    for line, statement in statements:
        parsed = _parse_formula(line, statement)
        if isinstance(parsed, Definition):
            definitions.append(parsed)
        else:
            terms.extend(parsed)

    _check_duplicates(terms, definitions)
    if not terms:
        raise ModelSyntaxError(
            "the model defines parameters (:=) but has no formula with =~, ~ or ~~"
        )
    return ParsedModel(tuple(terms), tuple(definitions), text)


def _check_duplicates(
    terms: list[FormulaTerm], definitions: list[Definition]
) -> None:
    seen: dict[tuple[str, str, str], FormulaTerm] = {}
    for term in terms:
        key = (term.lhs, term.op, term.rhs)
        if term.op == "~~" and term.lhs != term.rhs:
            reverse = (term.rhs, term.op, term.lhs)
            if reverse in seen:
                key = reverse
        if key in seen:
            first = seen[key]
            written = f"{term.lhs} {term.op} {term.rhs}".strip()
            raise ModelSyntaxError(
                f"line {term.line}: '{written}' is already defined on line "
                f"{first.line}; remove one of the two"
            )
        seen[key] = term

    names: dict[str, int] = {}
    for definition in definitions:
        if definition.name in names:
            raise ModelSyntaxError(
                f"line {definition.line}: the defined parameter "
                f"{definition.name!r} is already defined on line "
                f"{names[definition.name]}"
            )
        names[definition.name] = definition.line


# --------------------------------------------------------------------------
# Expressions of defined parameters, evaluated without eval()
# --------------------------------------------------------------------------

_FUNCTIONS = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


@dataclass(frozen=True)
class Expression:
    """An arithmetic expression over parameter labels (``a*b + c``)."""

    source: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: tuple[str, ...]

    @classmethod
    def parse(cls, source: str, line: int = 0, statement: str = "") -> "Expression":
        # R writes powers as '^'; Python's ast reads '^' as xor.
        python_source = source.replace("^", "**")
        try:
            tree = ast.parse(python_source, mode="eval")
        except SyntaxError as error:
            raise ModelSyntaxError(
                f"line {line}: cannot read the expression {source!r} in "
                f"{statement!r}: {error.msg}"
            ) from None
        names: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                if not (isinstance(node.func, ast.Name)
                        and node.func.id in _FUNCTIONS and not node.keywords):
                    raise ModelSyntaxError(
                        f"line {line}: only the functions "
                        f"{', '.join(sorted(_FUNCTIONS))} may be called in "
                        f"{statement!r}"
                    )
            elif isinstance(node, ast.Name):
                if node.id not in _FUNCTIONS and node.id not in names:
                    names.append(node.id)
            elif not isinstance(
                node,
                (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Load,
                 ast.USub, ast.UAdd, *_BINARY),
            ):
                raise ModelSyntaxError(
                    f"line {line}: {statement!r} may contain only labels, numbers, "
                    "+ - * / ^ and the functions exp, log, sqrt, abs"
                )
        return cls(source, tree, tuple(names))

    def evaluate(self, values: dict[str, complex | float]) -> complex | float:
        """Evaluate with ``values`` mapping each label to a number."""
        return _evaluate_node(self.tree.body, values)


def _evaluate_node(node: ast.AST, values: dict) -> complex | float:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float)):
            raise ModelSyntaxError(f"constant {node.value!r} is not a number")
        return float(node.value)
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate_node(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left = _evaluate_node(node.left, values)
        right = _evaluate_node(node.right, values)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Call):
        argument = _evaluate_node(node.args[0], values)
        return _FUNCTIONS[node.func.id](argument)
    raise ModelSyntaxError(f"unsupported expression element {ast.dump(node)}")
