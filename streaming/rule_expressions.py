"""Alert-rule expressions for Python rows: a small subset of Spark SQL, compiled once, no Spark needed.

Why: the streaming job computes a micro-batch's gold rows on the driver as plain dicts, and the alert
rules (`streaming/alert_rules.toml`: `where`, `subject`, `name`, `value`) must be rated on those rows
without a Spark job, with the result Spark's `F.expr` gives on the same rows. The subset is what
command-centre rules need, no more: a tokenizer and a recursive-descent parser build a tree of closures
(no `eval`), and anything outside the subset is refused when the rules are loaded, not in a batch.

The subset (keywords and function names in any case; column names resolved case-insensitively, as
Spark does by default):

- columns: `aqi`, or back-quoted `` `aqi` `` (a doubled back-quote inside stands for one);
- literals: integers (`42`, `42L`, up to BIGINT), doubles (`1.5D`, `15E-1`), exact decimals (`1.5`),
  strings (`'text'` or `"text"`; `''` inside single quotes, and backslash escapes, as Spark reads
  them), `TRUE`, `FALSE`, `NULL`;
- arithmetic `+ - * /` and unary `-`/`+`; `/` divides as doubles (as Spark's `/` does, integers too);
- `||` (text concatenation);
- comparisons `= == != <> < <= > >=`;
- `AND`, `OR`, `NOT`, `IS NULL`, `IS NOT NULL`, `[NOT] IN (...)`, `[NOT] BETWEEN a AND b`, parentheses;
- functions `coalesce`, `abs`, `greatest`, `least`, `round(x[, d])` (HALF_UP, `d` an integer literal,
  negative rounds to tens, hundreds...), and `concat` (which the packaged vision rule uses).

Precedence is Spark's: unary minus; `* /`; `+ - ||`; comparisons (left-associative, so `1 = 1 = TRUE`
is valid and `1 < 2 < 3` is a type error, as in Spark); `IS`, `IN`, `BETWEEN`; `NOT`; `AND`; `OR`.

NULL is SQL's: arithmetic, comparisons, `IN` without a match among NULLs and `BETWEEN` with a NULL
bound give NULL; `AND`/`OR` are three-valued; `coalesce`, `greatest`, `least` skip NULLs; `concat`
with a NULL is NULL. A `where` (`compile_predicate`) keeps a row only when it is TRUE. Doubles
compare as Spark's do: NaN equals NaN and is above every other number.

Where this differs from Spark 4 (ANSI mode, its default), on purpose or as a documented limit:

- dividing by zero gives NULL; Spark raises DIVIDE_BY_ZERO and fails the batch. For an alert NULL is
  the safe answer: no reading, no level (Spark's `try_divide` gives the same NULL);
- integer arithmetic does not overflow; Spark raises ARITHMETIC_OVERFLOW past INT/BIGINT;
- an exact decimal (`1.5`, a DECIMAL(2,1) in Spark) may be compared with (`=`, `<`, `IN`, `BETWEEN`
  ...) or be the whole expression, but not computed with: Spark's DECIMAL arithmetic rounds by
  precision and scale rules this evaluator does not model (`3 * 0.1` is exactly 0.3 there, not the
  double 0.30000000000000004). Write `1.5D` or `15E-1` (a DOUBLE) to compute; compiling says so;
- values of different kinds are not converted into each other: comparing text with a number is
  refused when compiling if the column types are given (pass a mapping of column name to Spark SQL
  type), and raises TypeError when evaluated otherwise, where Spark would cast the text;
- doubles written as text (`concat`, CAST AS STRING of a subject or name) use Java's layout
  (`1.0E7`, `0.001`) with the shortest digits that read back to the same double; Spark on Java 17
  writes a 17th digit for some doubles (`Double.toString(2e23)` is `1.9999999999999998E23`). Spark's
  `round` on a double starts from those same digits, so a double whose Java text differs could round
  differently in its last place; neither happens with the short decimal values sensors report;
- FLOAT, ARRAY, MAP, STRUCT and BINARY columns are outside the subset.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Final

from streaming.standards.rounding import MAX_SCALE, round_half_up

__all__ = [
    "CompiledExpression",
    "compile_expression",
    "compile_predicate",
    "to_double",
    "to_spark_string",
]

Row = Mapping[str, Any]
Evaluate = Callable[[Row], Any]

# Static kinds: what an expression is known to produce before any row is seen.
INT, DOUBLE, DECIMAL, TEXT, BOOL, TIME, NULL, ANY = "int", "double", "decimal", "text", "boolean", "time", "null", "any"
NUMBERS: Final = frozenset({INT, DOUBLE, DECIMAL})
_KIND_WORDS: Final = {INT: "an integer", DOUBLE: "a double", DECIMAL: "an exact decimal", TEXT: "text",
                      BOOL: "a boolean", TIME: "a timestamp or date", NULL: "NULL", ANY: "a value"}
_TYPE_KINDS: Final = {
    "TINYINT": INT, "BYTE": INT, "SMALLINT": INT, "SHORT": INT, "INT": INT, "INTEGER": INT, "BIGINT": INT,
    "LONG": INT, "DOUBLE": DOUBLE, "DECIMAL": DECIMAL, "DEC": DECIMAL, "NUMERIC": DECIMAL, "STRING": TEXT,
    "VARCHAR": TEXT, "CHAR": TEXT, "BOOLEAN": BOOL, "TIMESTAMP": TIME, "TIMESTAMP_LTZ": TIME,
    "TIMESTAMP_NTZ": TIME, "DATE": TIME,
}
BIGINT_MAX: Final = 2**63 - 1

FUNCTIONS: Final = ("abs", "coalesce", "concat", "greatest", "least", "round")
_KEYWORDS: Final = frozenset({"AND", "OR", "NOT", "IS", "NULL", "IN", "BETWEEN", "TRUE", "FALSE"})
# Spark syntax a rule might reach for, named so the error says it is outside the subset rather than
# calling it an unknown column.
_UNSUPPORTED: Final = {
    "SELECT": "a subquery", "FROM": "a subquery", "WHERE": "a subquery", "EXISTS": "a subquery",
    "CASE": "CASE", "WHEN": "CASE", "THEN": "CASE", "ELSE": "CASE", "END": "CASE", "LIKE": "LIKE",
    "ILIKE": "ILIKE", "RLIKE": "RLIKE", "REGEXP": "REGEXP", "INTERVAL": "INTERVAL", "DIV": "DIV",
    "OVER": "a window function", "DISTINCT": "DISTINCT", "AS": "an alias or CAST", "ANY": "ANY/SOME/ALL",
    "SOME": "ANY/SOME/ALL", "ALL": "ANY/SOME/ALL", "UNION": "a subquery", "ESCAPE": "LIKE",
}
_COMPARISONS: Final = {"=": lambda o: o == 0, "==": lambda o: o == 0, "!=": lambda o: o != 0,
                       "<>": lambda o: o != 0, "<": lambda o: o < 0, "<=": lambda o: o <= 0,
                       ">": lambda o: o > 0, ">=": lambda o: o >= 0}
_TOKEN: Final = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>--|/\*)
  | (?P<number>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?[A-Za-z_]*)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`(?:[^`]|``)*`)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=>|==|!=|<>|<=|>=|\|\||::|[-+*/%=<>(),.;:!&|^~\[\]{}?@\#$])
""", re.VERBOSE | re.DOTALL)
_ESCAPES: Final = {"b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "0": "\x00", "%": "\\%", "_": "\\_"}
_DOUBLE_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[dDfF]?")
_OPERATORS: Final = frozenset({"+", "-", "*", "/", "||", "(", ")", ",", *_COMPARISONS})


@dataclass(frozen=True)
class CompiledExpression:
    """A rule expression compiled once: call it with a row (column name -> value) for its value.

    Equal when compiled from the same text, to the same kind, reading the same columns: rules that
    hold one then compare by what they say, not by the identity of the closures.
    """

    sql: str
    kind: str  # what it yields: "int", "double", "decimal", "text", "boolean", "time", "null" or "any"
    columns: tuple[str, ...]  # the columns it reads, as the table names them
    evaluate: Evaluate = field(repr=False, compare=False)

    def __call__(self, row: Row) -> Any:
        return self.evaluate(row)


def compile_expression(sql: str, columns: Collection[str]) -> CompiledExpression:
    """Compile `sql` (the subset in this module's docstring) into a callable over one row.

    `columns` are the table's column names; a mapping of name -> Spark SQL type (`"DOUBLE"`,
    `"STRING"`, `"DECIMAL(10,2)"`...) also types them, so operands of the wrong kind are refused
    here, and a DOUBLE column read as a Python int still yields a double. Raises ValueError naming the
    problem and its position (1-based) for syntax outside the subset or an unknown column.
    """
    types = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns)
    parser = _Parser(sql, types)
    expr = parser.parse()
    return CompiledExpression(sql, expr.kind, tuple(dict.fromkeys(parser.used)), expr.fn)


def compile_predicate(sql: str, columns: Collection[str]) -> CompiledExpression:
    """Compile a condition (a rule's `where`): True only when the expression is TRUE, False for FALSE
    and NULL, as SQL's WHERE keeps rows. Raises ValueError as `compile_expression`, and when the
    expression can only yield a number, text or a time."""
    compiled = compile_expression(sql, columns)
    if compiled.kind not in (BOOL, NULL, ANY):
        raise ValueError(f"{sql!r} yields {_KIND_WORDS[compiled.kind]}, not a condition (TRUE or FALSE)")
    evaluate = compiled.evaluate

    def keep(row: Row) -> bool:
        return _need_boolean(evaluate(row), "a condition") is True

    return CompiledExpression(sql, BOOL, compiled.columns, keep)


def to_spark_string(value: Any) -> str | None:
    """`CAST(value AS STRING)` as Spark writes it: true/false, integers as digits, doubles in Java's
    layout (1.0E7, 0.001, NaN, Infinity), decimals in plain notation, timestamps as UTC
    `yyyy-MM-dd HH:mm:ss[.fraction]`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        moment = _as_utc(value)
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{moment.microsecond:06d}".rstrip("0") if moment.microsecond else text
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as text: outside the rule expression subset")


def to_double(value: Any) -> float | None:
    """`CAST(value AS DOUBLE)` as Spark 4 with ANSI mode does it (text that is no number raises
    ValueError, as Spark raises CAST_INVALID_INPUT)."""
    if value is None or isinstance(value, float):
        return value
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | Decimal):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        special = {"inf": math.inf, "+inf": math.inf, "infinity": math.inf, "+infinity": math.inf,
                   "-inf": -math.inf, "-infinity": -math.inf, "nan": math.nan}.get(text.lower())
        if special is not None:
            return special
        if _DOUBLE_TEXT.fullmatch(text):
            return float(text.rstrip("dDfF"))
        raise ValueError(f"cannot read {value!r} as a DOUBLE")
    if isinstance(value, datetime):
        return _as_utc(value).timestamp()
    raise TypeError(f"cannot read {type(value).__name__} {value!r} as a DOUBLE")


# --- values -------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _as_utc(moment: datetime) -> datetime:
    """Naive timestamps are UTC, as the job's Spark session (spark.sql.session.timeZone) reads them."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _java_double(number: float) -> str:
    """A double as Java's Double.toString lays it out, from the shortest digits that read back."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    sign = "-" if number < 0 else ""
    exact = Decimal(repr(abs(number))).normalize()
    if 1e-3 <= abs(number) < 1e7:
        text = format(exact, "f")
        return sign + (text if "." in text else f"{text}.0")
    _, digits, exponent = exact.as_tuple()
    mantissa = "".join(map(str, digits))
    return f"{sign}{mantissa[0]}.{mantissa[1:] or '0'}E{len(digits) - 1 + int(exponent)}"


def _kind_of(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, Decimal):
        return DECIMAL
    if isinstance(value, str):
        return TEXT
    if isinstance(value, date):
        return TIME
    return type(value).__name__


def _order(left: Any, right: Any) -> int:
    """-1, 0 or 1 as Spark orders two non-NULL values: numbers of any kind among themselves (through
    double when either is one; NaN equal to NaN and above all), text by code point (UTF-8 byte order),
    FALSE before TRUE, times among themselves. Other pairs raise TypeError."""
    if _is_number(left) and _is_number(right):
        if isinstance(left, float) or isinstance(right, float):
            left, right = float(left), float(right)
            if math.isnan(left) or math.isnan(right):
                return int(math.isnan(left)) - int(math.isnan(right))
        return int(left > right) - int(left < right)
    if isinstance(left, date) and isinstance(right, date):
        left, right = _as_moment(left), _as_moment(right)
    elif type(left) is not type(right) or not isinstance(left, str | bool):
        raise TypeError(f"cannot compare {_KIND_WORDS.get(_kind_of(left), _kind_of(left))} {left!r} with "
                        f"{_KIND_WORDS.get(_kind_of(right), _kind_of(right))} {right!r}")
    return int(left > right) - int(left < right)


def _as_moment(value: date) -> datetime:
    """A date compares with a timestamp as its midnight, UTC (Spark casts the date to a timestamp)."""
    if isinstance(value, datetime):
        return _as_utc(value)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _numeric_kind(kind: str) -> str:
    """What a numeric operator (unary -/+, abs, round) yields: a NULL operand is typed DOUBLE, as Spark
    casts an untyped NULL to a numeric operator's default type (`typeof(-NULL)` is double), which
    then widens what it meets (`coalesce(int_column, -NULL)` is a DOUBLE)."""
    return DOUBLE if kind == NULL else kind


def _need_number(value: Any, what: str) -> Any:
    if value is None or (_is_number(value) and not isinstance(value, Decimal)):
        return value
    kind = _KIND_WORDS.get(_kind_of(value), _kind_of(value))
    raise TypeError(f"{what} needs numbers, got {kind} {value!r}")


def _need_boolean(value: Any, what: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    kind = _KIND_WORDS.get(_kind_of(value), _kind_of(value))
    raise TypeError(f"{what} needs TRUE, FALSE or NULL, got {kind} {value!r}")


def _round_half_up(value: Any, digits: int) -> Any:
    """Spark's round: HALF_UP at `digits` places (negative: left of the point). A double is rounded
    from its decimal text, as Spark's BigDecimal(double) does, so 2.675 rounds to 2.68."""
    if _need_number(value, "round") is None:
        return None
    if isinstance(value, int):
        return value if digits >= 0 else int(_quantize(Decimal(value), digits))
    if isinstance(value, float) and 0 <= digits <= MAX_SCALE:  # the gold figures' own rounding
        return round_half_up(value, digits)
    if not math.isfinite(value):
        return value
    return float(_quantize(Decimal(repr(value)), digits)) + 0.0  # + 0.0: BigDecimal has no -0


def _quantize(value: Decimal, digits: int) -> Decimal:
    precision = max(28, value.adjusted() + digits + 3)
    return value.quantize(Decimal(1).scaleb(-digits), context=Context(prec=precision, rounding=ROUND_HALF_UP))


def _divide(left: Any, right: Any) -> Any:
    if left is None or right is None or right == 0:
        return None  # by zero: NULL, where Spark 4's ANSI mode raises DIVIDE_BY_ZERO
    return float(left) / float(right)


_ARITHMETIC: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


# --- tokens and parser ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, quoted, word, op, end
    text: str
    start: int
    value: Any = None

    @property
    def keyword(self) -> str | None:
        """The upper-cased word when this is an unquoted word (keywords are case-insensitive)."""
        return self.text.upper() if self.kind == "word" else None

    def describe(self) -> str:
        return "end of the expression" if self.kind == "end" else repr(self.text)


@dataclass(frozen=True)
class _Expr:
    fn: Evaluate
    kind: str
    start: int
    end: int
    literal: bool = False
    value: Any = None


def _literal(value: Any, kind: str, start: int, end: int) -> _Expr:
    return _Expr(lambda row: value, kind, start, end, literal=True, value=value)


class _Parser:
    """Recursive descent over the tokens, one method per precedence level, building closures."""

    def __init__(self, sql: str, types: dict[str, str | None]) -> None:
        self.sql = sql
        self.types = types
        self.by_folded: dict[str, list[str]] = {}
        for name in types:
            self.by_folded.setdefault(name.lower(), []).append(name)
        self.used: list[str] = []
        self.tokens = self._tokenize()
        self.index = 0

    # errors

    def error(self, problem: str, start: int, detail: str = "") -> ValueError:
        """ValueError: the problem, where it is (1-based), the expression, and what to do about it."""
        return ValueError(f"{problem} at position {start + 1} in {self.sql!r}" + (f"; {detail}" if detail else ""))

    def unexpected(self, token: _Token) -> ValueError:
        keyword = token.keyword
        if keyword in _UNSUPPORTED:
            return self.error(f"unsupported syntax {token.text!r}", token.start,
                              f"{_UNSUPPORTED[keyword]} is not in the rule expression subset")
        if token.kind == "op" and token.text not in _OPERATORS:
            return self.error(f"unsupported operator {token.text!r}", token.start)
        return self.error(f"unexpected {token.describe()}", token.start)

    # tokens

    def _tokenize(self) -> list[_Token]:
        tokens, position = [], 0
        while position < len(self.sql):
            match = _TOKEN.match(self.sql, position)
            if match is None:
                quote = self.sql[position]
                if quote in "'\"`":
                    raise self.error(f"unterminated {'name' if quote == '`' else 'string'} {quote}...", position)
                raise self.error(f"unexpected character {quote!r}", position)
            kind, text = match.lastgroup or "", match.group()
            if kind == "comment":
                raise self.error("comments are not in the rule expression subset", position)
            if kind != "space":
                tokens.append(self._token(kind, text, position))
            position = match.end()
        tokens.append(_Token("end", "", len(self.sql)))
        return tokens

    def _token(self, kind: str, text: str, start: int) -> _Token:
        if kind == "string":
            return _Token(kind, text, start, self._unescape(text))
        if kind == "quoted":
            return _Token(kind, text, start, text[1:-1].replace("``", "`"))
        if kind == "number":
            return _Token(kind, text, start, self._number(text, start))
        return _Token(kind, text, start)

    @staticmethod
    def _unescape(text: str) -> str:
        """A string literal's value as Spark reads it (spark.sql.parser.escapedStringLiterals off)."""
        body, out, i = text[1:-1], [], 0
        while i < len(body):
            char = body[i]
            if char == "\\" and i + 1 < len(body):
                following = body[i + 1]
                if following == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
                    out.append(chr(int(body[i + 2:i + 6], 16)))
                    i += 6
                    continue
                if re.fullmatch(r"[0-3][0-7]{2}", body[i + 1:i + 4]):
                    out.append(chr(int(body[i + 1:i + 4], 8)))
                    i += 4
                    continue
                out.append(_ESCAPES.get(following, following))
                i += 2
                continue
            if char == "'" and text[0] == "'":  # '' inside single quotes: one quote
                i += 1
            out.append(char)
            i += 1
        return "".join(out)

    def _number(self, text: str, start: int) -> tuple[Any, str]:
        body = text.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
        suffix = text[len(body):].upper()
        integral = body.isdigit()
        if suffix == "D":
            return float(body), DOUBLE
        if integral and suffix in ("", "L"):
            value = int(body)
            if value > BIGINT_MAX:
                raise self.error(f"integer {text} is beyond BIGINT", start)
            return value, INT
        if suffix == "":  # 15E-1 is a DOUBLE in Spark 4, 1.5 an exact DECIMAL(2,1)
            return (float(body), DOUBLE) if "e" in body.lower() else (Decimal(body), DECIMAL)
        raise self.error(f"unsupported number {text!r} (the subset reads 42, 42L, 1.5, 1.5D, 15E-1)", start)

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def accept(self, keyword: str) -> _Token | None:
        token = self.peek()
        if token.keyword == keyword or (token.kind == "op" and token.text == keyword):
            return self.advance()
        return None

    def expect(self, keyword: str) -> _Token:
        token = self.accept(keyword)
        if token is None:
            found = self.peek()
            if found.keyword in _UNSUPPORTED:
                raise self.unexpected(found)
            raise self.error(f"expected {keyword!r}, found {found.describe()}", found.start)
        return token

    # static checks

    def snippet(self, expr: _Expr) -> str:
        return self.sql[expr.start:expr.end]

    def need_kinds(self, expr: _Expr, allowed: Collection[str], what: str) -> None:
        if expr.kind == DECIMAL and DECIMAL not in allowed:
            fix = (f"write {self.snippet(expr).strip()}D (a DOUBLE) to use it in {what}" if expr.literal
                   else f"it can only be compared, not used in {what}")
            raise self.error(f"{self.snippet(expr)!r} is an exact DECIMAL", expr.start,
                             "Spark computes with DECIMALs by precision and scale rules the rule expression subset "
                             f"leaves out: {fix}")
        if expr.kind not in allowed and expr.kind not in (NULL, ANY):
            raise self.error(f"{what} needs {' or '.join(sorted({_KIND_WORDS[k] for k in allowed}))}, but "
                             f"{self.snippet(expr)!r} is {_KIND_WORDS[expr.kind]}", expr.start)

    def need_comparable(self, left: _Expr, right: _Expr, what: str) -> None:
        kinds = {left.kind, right.kind}
        if kinds & {NULL, ANY} or kinds <= NUMBERS or len(kinds) == 1:
            return
        raise self.error(f"{what} cannot compare {_KIND_WORDS[left.kind]} ({self.snippet(left)!r}) with "
                         f"{_KIND_WORDS[right.kind]} ({self.snippet(right)!r})", left.start)

    def common_kind(self, args: Sequence[_Expr], what: str) -> str:
        """The type Spark widens a function's arguments to (coalesce, greatest, least)."""
        kinds = [arg.kind for arg in args if arg.kind != NULL]
        for arg in args[1:]:
            self.need_comparable(args[0], arg, what)
        if not kinds:
            return NULL
        if ANY in kinds:
            return ANY
        if len(set(kinds)) == 1:
            return kinds[0]
        if not set(kinds) <= NUMBERS:
            raise self.error(f"{what} needs arguments of one kind, got {', '.join(kinds)}", args[0].start)
        return DOUBLE if DOUBLE in kinds else DECIMAL if DECIMAL in kinds else INT

    # grammar

    def parse(self) -> _Expr:
        if self.peek().kind == "end":
            raise self.error("empty expression", 0)
        expr = self.disjunction()
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())
        return expr

    def disjunction(self) -> _Expr:
        left = self.conjunction()
        while self.accept("OR"):
            left = self.logical("OR", left, self.conjunction())
        return left

    def conjunction(self) -> _Expr:
        left = self.negation()
        while self.accept("AND"):
            left = self.logical("AND", left, self.negation())
        return left

    def logical(self, operator: str, left: _Expr, right: _Expr) -> _Expr:
        for side in (left, right):
            self.need_kinds(side, (BOOL,), operator)
        lhs, rhs, stop = left.fn, right.fn, operator == "OR"  # OR stops at TRUE, AND at FALSE

        def evaluate(row: Row) -> bool | None:
            first = _need_boolean(lhs(row), operator)
            if first is stop:
                return stop
            second = _need_boolean(rhs(row), operator)
            if second is stop:
                return stop
            return None if first is None or second is None else not stop

        return _Expr(evaluate, BOOL, left.start, right.end)

    def negation(self) -> _Expr:
        token = self.accept("NOT")
        if token is None:
            return self.predicate()
        operand = self.negation()
        self.need_kinds(operand, (BOOL,), "NOT")
        inner = operand.fn

        def evaluate(row: Row) -> bool | None:
            value = _need_boolean(inner(row), "NOT")
            return None if value is None else not value

        return _Expr(evaluate, BOOL, token.start, operand.end)

    def predicate(self) -> _Expr:
        subject = self.comparison()
        if self.accept("IS"):
            negate = self.accept("NOT") is not None
            end = self.expect("NULL")
            inner = subject.fn
            return _Expr((lambda row: inner(row) is not None) if negate else (lambda row: inner(row) is None),
                         BOOL, subject.start, end.start + len(end.text))
        negate = False
        if self.peek().keyword == "NOT" and self.peek(1).keyword in ("IN", "BETWEEN"):
            self.advance()
            negate = True
        elif self.peek().keyword == "NOT" and self.peek(1).keyword in _UNSUPPORTED:
            raise self.unexpected(self.peek(1))
        if self.accept("IN"):
            return self.in_list(subject, negate)
        if self.accept("BETWEEN"):
            low = self.comparison()
            self.expect("AND")
            high = self.comparison()
            for bound in (low, high):
                self.need_comparable(subject, bound, "BETWEEN")
            return self.negated(self.between(subject, low, high), negate)
        return subject

    def in_list(self, subject: _Expr, negate: bool) -> _Expr:
        self.expect("(")
        if self.peek().text == ")":
            raise self.error("IN needs at least one value", self.peek().start)
        items = [self.disjunction()]
        while self.accept(","):
            items.append(self.disjunction())
        close = self.expect(")")
        for item in items:
            self.need_comparable(subject, item, "IN")
        probe, candidates = subject.fn, [item.fn for item in items]

        def evaluate(row: Row) -> bool | None:
            value = probe(row)
            if value is None:
                return None
            saw_null = False
            for candidate in candidates:
                other = candidate(row)
                if other is None:
                    saw_null = True
                elif _order(value, other) == 0:
                    return True
            return None if saw_null else False

        return self.negated(_Expr(evaluate, BOOL, subject.start, close.start + 1), negate)

    def between(self, subject: _Expr, low: _Expr, high: _Expr) -> _Expr:
        probe, lower, upper = subject.fn, low.fn, high.fn

        def evaluate(row: Row) -> bool | None:  # lower <= x AND x <= upper, as Spark rewrites it
            value = probe(row)
            bottom = lower(row)
            above = None if value is None or bottom is None else _order(value, bottom) >= 0
            if above is False:
                return False
            top = upper(row)
            below = None if value is None or top is None else _order(value, top) <= 0
            if below is False:
                return False
            return None if above is None or below is None else True

        return _Expr(evaluate, BOOL, subject.start, high.end)

    @staticmethod
    def negated(expr: _Expr, negate: bool) -> _Expr:
        if not negate:
            return expr
        inner = expr.fn

        def evaluate(row: Row) -> bool | None:
            value = inner(row)
            return None if value is None else not value

        return _Expr(evaluate, BOOL, expr.start, expr.end)

    def comparison(self) -> _Expr:
        left = self.additive()
        while self.peek().kind == "op" and self.peek().text in _COMPARISONS:
            operator = self.advance().text
            right = self.additive()
            self.need_comparable(left, right, repr(operator))
            lhs, rhs, test = left.fn, right.fn, _COMPARISONS[operator]

            def evaluate(row: Row, lhs: Evaluate = lhs, rhs: Evaluate = rhs,
                         test: Callable[[int], bool] = test) -> bool | None:
                a, b = lhs(row), rhs(row)
                return None if a is None or b is None else test(_order(a, b))

            left = _Expr(evaluate, BOOL, left.start, right.end)
        return left

    def additive(self) -> _Expr:
        left = self.multiplicative()
        while self.peek().kind == "op" and self.peek().text in ("+", "-", "||"):
            operator = self.advance().text
            right = self.multiplicative()
            left = self.concatenation([left, right]) if operator == "||" else self.arithmetic(operator, left, right)
        return left

    def multiplicative(self) -> _Expr:
        left = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/", "%"):
            token = self.advance()
            if token.text == "%":
                raise self.unexpected(token)
            left = self.arithmetic(token.text, left, self.unary())
        return left

    def arithmetic(self, operator: str, left: _Expr, right: _Expr) -> _Expr:
        for side in (left, right):
            self.need_kinds(side, (INT, DOUBLE), f"{operator!r}")
        kinds = {left.kind, right.kind}
        kind = (DOUBLE if operator == "/" or DOUBLE in kinds else ANY if ANY in kinds
                else INT if INT in kinds else DOUBLE)  # NULL op NULL: Spark types both as DOUBLE
        lhs, rhs = left.fn, right.fn
        if operator == "/":
            def evaluate(row: Row) -> Any:
                return _divide(_need_number(lhs(row), "'/'"), _need_number(rhs(row), "'/'"))
        else:
            apply, what = _ARITHMETIC[operator], repr(operator)

            def evaluate(row: Row) -> Any:
                a, b = _need_number(lhs(row), what), _need_number(rhs(row), what)
                return None if a is None or b is None else apply(a, b)

        return _Expr(evaluate, kind, left.start, right.end)

    def unary(self) -> _Expr:
        token = self.peek()
        if token.kind != "op" or token.text not in ("-", "+"):
            return self.primary()
        self.advance()
        operand = self.unary()
        self.need_kinds(operand, (INT, DOUBLE, DECIMAL), f"unary {token.text!r}")
        kind = _numeric_kind(operand.kind)
        if token.text == "+":
            return _Expr(operand.fn, kind, token.start, operand.end, operand.literal, operand.value)
        if operand.literal and operand.value is not None:  # -2, -1.5: still a literal (round's digits)
            return _literal(-operand.value, operand.kind, token.start, operand.end)
        inner = operand.fn

        def evaluate(row: Row) -> Any:
            value = inner(row)
            if value is None:
                return None
            if not isinstance(value, Decimal):  # negating an exact decimal stays exact
                _need_number(value, "unary '-'")
            return -value

        return _Expr(evaluate, kind, token.start, operand.end)

    def primary(self) -> _Expr:
        token = self.peek()
        end = token.start + len(token.text)
        if token.kind == "number":
            self.advance()
            value, kind = token.value
            return _literal(value, kind, token.start, end)
        if token.kind == "string":
            self.advance()
            return _literal(token.value, TEXT, token.start, end)
        if token.kind == "quoted":
            self.advance()
            return self.column(token.value, token.start, end)
        if token.kind == "op" and token.text == "(":
            self.advance()
            inner = self.disjunction()
            close = self.expect(")")
            return _Expr(inner.fn, inner.kind, token.start, close.start + 1, inner.literal, inner.value)
        keyword = token.keyword
        if keyword in ("TRUE", "FALSE", "NULL"):
            self.advance()
            return _literal({"TRUE": True, "FALSE": False, "NULL": None}[keyword], BOOL if keyword != "NULL" else NULL,
                            token.start, end)
        if token.kind != "word" or keyword in _KEYWORDS or keyword in _UNSUPPORTED:
            raise self.unexpected(token)
        self.advance()
        following = self.peek()
        if following.kind == "op" and following.text == "(":
            return self.call(token)
        if following.kind == "op" and following.text in (".", "[", "::"):
            raise self.error(f"unsupported syntax {token.text + following.text!r}", following.start,
                             "field access and :: casts are not in the rule expression subset")
        return self.column(token.text, token.start, end)

    def column(self, name: str, start: int, end: int) -> _Expr:
        matches = self.by_folded.get(name.lower(), [])
        if len(matches) != 1:
            if matches:
                raise self.error(f"column {name!r} is ambiguous: {', '.join(matches)}", start)
            close = difflib.get_close_matches(name.lower(), list(self.by_folded), n=1)
            hint = (f"did you mean {self.by_folded[close[0]][0]!r}?" if close
                    else f"the table's columns: {', '.join(self.types)}")
            raise self.error(f"unknown column {name!r}", start, hint)
        actual = matches[0]
        declared = self.types[actual]
        kind = ANY
        if declared is not None:
            base = re.match(r"\s*([A-Za-z_]+)", declared)
            kind = _TYPE_KINDS.get(base.group(1).upper() if base else "", "")
            if not kind:
                raise self.error(f"column {actual!r} is {declared}, a type outside the rule expression subset", start)
        self.used.append(actual)
        if kind == DOUBLE:
            def evaluate(row: Row) -> Any:
                value = row[actual]
                return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        else:
            def evaluate(row: Row) -> Any:
                return row[actual]
        return _Expr(evaluate, kind, start, end)

    def call(self, name_token: _Token) -> _Expr:
        name = name_token.text.lower()
        if name not in FUNCTIONS:
            raise self.error(f"unknown function {name_token.text!r}", name_token.start,
                             f"the rule expression subset has {', '.join(FUNCTIONS)}")
        self.expect("(")
        args: list[_Expr] = []
        if self.peek().text != ")" or self.peek().kind != "op":
            args.append(self.disjunction())
            while self.accept(","):
                args.append(self.disjunction())
        close = self.expect(")")
        start, end = name_token.start, close.start + 1
        arity = {"abs": (1, 1), "round": (1, 2), "coalesce": (1, None), "concat": (1, None),
                 "greatest": (2, None), "least": (2, None)}[name]
        if len(args) < arity[0] or (arity[1] is not None and len(args) > arity[1]):
            wanted = f"{arity[0]}" if arity[0] == arity[1] else f"{arity[0]} to {arity[1]}" if arity[1] else \
                f"at least {arity[0]}"
            raise self.error(f"{name} takes {wanted} argument(s), got {len(args)}", start)
        if name == "concat":
            return self.concatenation(args, start, end)
        for arg in args if name != "round" else args[:1]:
            self.need_kinds(arg, (INT, DOUBLE) if name in ("abs", "round") else (INT, DOUBLE, TEXT, BOOL, TIME), name)
        if name == "abs":
            inner = args[0].fn

            def absolute(row: Row) -> Any:
                value = _need_number(inner(row), "abs")
                return None if value is None else abs(value)

            return _Expr(absolute, _numeric_kind(args[0].kind), start, end)
        if name == "round":
            digits = 0
            if len(args) == 2:
                if not (args[1].literal and args[1].kind == INT):
                    raise self.error(f"round's digits must be an integer literal, not {self.snippet(args[1])!r}",
                                     args[1].start)
                digits = args[1].value
            inner = args[0].fn
            return _Expr(lambda row: _round_half_up(inner(row), digits), _numeric_kind(args[0].kind), start, end)
        kind = self.common_kind(args, name)
        widen = kind == DOUBLE
        fns = [arg.fn for arg in args]
        if name == "coalesce":
            def pick(row: Row) -> Any:
                for fn in fns:
                    value = fn(row)
                    if value is not None:
                        return value
                return None
        else:
            sign = 1 if name == "greatest" else -1

            def pick(row: Row) -> Any:
                best = None
                for fn in fns:
                    value = fn(row)
                    if value is not None and (best is None or sign * _order(value, best) > 0):
                        best = value
                return best

        def evaluate(row: Row) -> Any:
            value = pick(row)
            return float(value) if widen and _is_number(value) else value  # Spark widened to DOUBLE

        return _Expr(evaluate, kind, start, end)

    def concatenation(self, args: list[_Expr], start: int | None = None, end: int | None = None) -> _Expr:
        """concat(...) and ||: every argument written as text (CAST AS STRING); NULL if any is NULL."""
        fns = [arg.fn for arg in args]

        def evaluate(row: Row) -> str | None:
            parts = []
            for fn in fns:
                text = to_spark_string(fn(row))
                if text is None:
                    return None
                parts.append(text)
            return "".join(parts)

        return _Expr(evaluate, TEXT, args[0].start if start is None else start,
                     args[-1].end if end is None else end)
