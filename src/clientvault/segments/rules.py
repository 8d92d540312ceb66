"""The segment rule language: a JSON document of ``all`` / ``any`` / ``not`` groups and typed
conditions, as pydantic models (hence a published JSON Schema).

A rule is data, never SQL: every name in it (trait keys, event property names) is checked
against a strict pattern and every value is bound as a parameter by ``segments.compiler``.
Before pydantic sees a document, ``parse_rules`` walks it without recursion and refuses one
deeper than ``MAX_DEPTH`` or with more than ``MAX_CONDITIONS`` nodes, so a hostile document
(1,000 levels, 10,000 conditions) gets a clear error instead of a ``RecursionError``.
Validation errors name the path of the faulty node (``rules.all[2].window.last_days``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from clientvault.errors import InvalidInput

#: How deep groups may nest, and how many nodes (groups and conditions) one rule may hold.
MAX_DEPTH = 12
MAX_CONDITIONS = 200
#: How many calendar periods a ``regularly`` condition may look back over.
MAX_PERIODS = 120
#: Trait keys and event property names: plain identifiers, so they can never escape the JSON
#: path they are put in.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
EVENT_NAME_PATTERN = r"^[^\x00-\x1f]{1,200}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9\-]{0,62}$"
_BIG = 10**9

Text = Annotated[str, Field(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=0, le=_BIG)]
Amount = Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _date_or_time(value: object) -> object:
    """``2026-06-10`` is a calendar date; anything longer a time (which needs its zone)."""
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value)
    return value


#: A window's bound: a calendar date (local midnight) or a time with its zone.
Bound = Annotated[date | datetime, BeforeValidator(_date_or_time)]


class Window(_Strict):
    """A time window: the last N days (rolling, from now) or absolute bounds. A bound given as
    a date is the start of that calendar day in the installation's time zone; ``until`` is
    exclusive."""

    last_days: int | None = Field(default=None, ge=1, le=36_600)
    since: Bound | None = None
    until: Bound | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Window:
        if self.last_days is None and self.since is None and self.until is None:
            raise ValueError("give last_days, or since and/or until")
        if self.last_days is not None and (self.since is not None or self.until is not None):
            raise ValueError("give last_days or since/until, not both")
        for bound in (self.since, self.until):
            if isinstance(bound, datetime) and bound.tzinfo is None:
                raise ValueError("times must carry a time zone (ISO 8601 with offset or Z)")
        return self


class Span(_Strict):
    """A duration (for sequences): hours and/or minutes."""

    hours: int = Field(default=0, ge=0, le=24 * 366)
    minutes: int = Field(default=0, ge=0, le=59)

    @model_validator(mode="after")
    def _positive(self) -> Span:
        if self.hours == 0 and self.minutes == 0:
            raise ValueError("a span must be longer than zero")
        return self

    @property
    def seconds(self) -> int:
        """The span in seconds."""
        return self.hours * 3600 + self.minutes * 60


Comparison = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
CountOp = Literal["at_least", "at_most", "exactly", "never"]


class PropertyFilter(_Strict):
    """A filter on an event property: equal/unequal to a value, in a list, or compared."""

    property: str = Field(pattern=NAME_PATTERN)
    op: Literal["eq", "ne", "in", "gt", "gte", "lt", "lte"] = "eq"
    value: str | Amount | bool | list[str] = Field(union_mode="left_to_right")

    @model_validator(mode="after")
    def _value_fits(self) -> PropertyFilter:
        _check_value(self.op, self.value)
        return self


def _check_value(op: str, value: object) -> None:
    if op == "in" and not (isinstance(value, list) and 1 <= len(value) <= 100):
        raise ValueError("'in' takes a list of 1 to 100 strings")
    if op != "in" and isinstance(value, list):
        raise ValueError(f"{op!r} takes one value, not a list")
    if op in ("gt", "gte", "lt", "lte") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise ValueError(f"{op!r} compares numbers")
    if isinstance(value, str) and len(value) > 200:
        raise ValueError("values are at most 200 characters")


class EventSpec(_Strict):
    """An event name and filters on its properties."""

    name: str = Field(pattern=EVENT_NAME_PATTERN)
    where: list[PropertyFilter] = Field(default_factory=list, max_length=20)


# --- conditions ---------------------------------------------------------------------------


class AgeCondition(_Strict):
    """Age in years from ``birth_year`` (this year minus it), between ``min`` and ``max``."""

    type: Literal["age"]
    min: int | None = Field(default=None, ge=0, le=150)
    max: int | None = Field(default=None, ge=0, le=150)

    @model_validator(mode="after")
    def _bounded(self) -> AgeCondition:
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max")
        return self


class AttributeCondition(_Strict):
    """A coarse profile attribute (``gender``, ``language``, ``country``, ``city``,
    ``postal_prefix``): in a list, not in it, set, unset, or starting with a prefix."""

    type: Literal["attribute"]
    field: Literal["gender", "language", "country", "city", "postal_prefix"]
    op: Literal["in", "not_in", "is_set", "is_not_set", "starts_with"] = "in"
    values: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=300
    )

    @model_validator(mode="after")
    def _values(self) -> AttributeCondition:
        if self.op in ("in", "not_in", "starts_with") and not self.values:
            raise ValueError(f"{self.op!r} needs values")
        if self.op in ("is_set", "is_not_set") and self.values:
            raise ValueError(f"{self.op!r} takes no values")
        return self


ValueOp = Literal["eq", "ne", "in", "gt", "gte", "lt", "lte", "contains", "is_set", "is_not_set"]


class _ValueTest(_Strict):
    """A test of a stored value: compared with a value, ``contains`` for a list,
    ``is_set`` / ``is_not_set``."""

    op: ValueOp
    value: str | Amount | bool | list[str] | None = Field(default=None, union_mode="left_to_right")

    @model_validator(mode="after")
    def _value_fits(self) -> _ValueTest:
        if self.op in ("is_set", "is_not_set"):
            if self.value is not None:
                raise ValueError(f"{self.op!r} takes no value")
            return self
        if self.value is None:
            raise ValueError(f"{self.op!r} needs a value")
        if self.op == "contains" and not isinstance(self.value, str):
            raise ValueError("'contains' takes one string")
        _check_value(self.op, self.value)
        return self


class TraitCondition(_ValueTest):
    """A trait of ``traits`` (psychographics: ``interests``, ``lifestyle``…): compared with a
    value, ``contains`` for a list-valued trait, ``is_set`` / ``is_not_set``."""

    type: Literal["trait"]
    key: str = Field(pattern=NAME_PATTERN)


class ComputedTraitCondition(_ValueTest):
    """A computed trait's current value (``segments.traits``: ``favourite_category_90d``…),
    tested as a profile trait is; a count or a sum with no events is 0."""

    type: Literal["computed_trait"]
    name: str = Field(pattern=NAME_PATTERN)


class ProfileDateCondition(_Strict):
    """When the profile was created, or first/last seen on the event log, falls in a window."""

    type: Literal["profile_date"]
    field: Literal["created_at", "first_seen", "last_seen"]
    window: Window


class EventCondition(_Strict):
    """How many times an event (with property filters) happened in a window."""

    type: Literal["event"]
    event: EventSpec
    count: CountOp = "at_least"
    value: Count = 1
    window: Window | None = None


class OccurrenceCondition(_Strict):
    """The customer's first (or last) occurrence of an event falls in a window: "did it for
    the first time in the last 30 days", "last visit before June"."""

    type: Literal["occurrence"]
    event: EventSpec
    which: Literal["first", "last"]
    window: Window


class SequenceCondition(_Strict):
    """An event ``first`` (in the window) not followed by ``then_not`` within ``within``:
    cart abandonment is Product Added and no Order Completed within 2 hours after it."""

    type: Literal["sequence"]
    first: EventSpec
    then_not: EventSpec
    within: Span
    window: Window | None = None


class Moment(_Strict):
    """A point in time: ``days_ago`` (rolling, that many days before the evaluation time) or
    ``at`` (a calendar date, local midnight in the installation's time zone, or a time with
    its zone)."""

    days_ago: int | None = Field(default=None, ge=0, le=36_600)
    at: Bound | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Moment:
        if (self.days_ago is None) == (self.at is None):
            raise ValueError("give days_ago or at, one of them")
        if isinstance(self.at, datetime) and self.at.tzinfo is None:
            raise ValueError("times must carry a time zone (ISO 8601 with offset or Z)")
        return self


def _ordered(earlier: Moment | None, later: Moment, what: str) -> None:
    """Refuse two moments of the same form in the wrong order (moments of different forms
    are compared at evaluation: an empty span then holds no event)."""
    if earlier is None:
        return
    if earlier.days_ago is not None and later.days_ago is not None:
        if earlier.days_ago <= later.days_ago:
            raise ValueError(f"{what}: days_ago must be larger for the earlier moment")
        return
    same_kind = type(earlier.at) is type(later.at)  # both dates, or both times
    if same_kind and earlier.at is not None and later.at is not None and earlier.at >= later.at:
        raise ValueError(f"{what}: the earlier moment must come first")


class RegularlyCondition(_Strict):
    """Did an event regularly: at least ``min_times`` times in each of at least
    ``min_periods`` of the last ``total_periods`` calendar periods (days, ISO weeks from
    Monday, months, in the installation's time zone). ``include_current``: whether the
    current, unfinished period is the newest of them (else the last complete ones)."""

    type: Literal["regularly"]
    event: EventSpec
    unit: Literal["day", "week", "month"]
    total_periods: int = Field(ge=1, le=MAX_PERIODS)
    min_periods: int = Field(ge=1, le=MAX_PERIODS)
    min_times: int = Field(default=1, ge=1, le=_BIG)
    include_current: bool = True

    @model_validator(mode="after")
    def _fits(self) -> RegularlyCondition:
        if self.min_periods > self.total_periods:
            raise ValueError("min_periods cannot exceed total_periods")
        return self


class StoppedCondition(_Strict):
    """Did an event in ``[active_from, quiet_from)`` (``active_from`` open: any time before)
    and not since ``quiet_from``."""

    type: Literal["stopped"]
    event: EventSpec
    active_from: Moment | None = None
    quiet_from: Moment

    @model_validator(mode="after")
    def _order(self) -> StoppedCondition:
        _ordered(self.active_from, self.quiet_from, "active_from before quiet_from")
        return self


class RestartedCondition(_Strict):
    """Did an event in ``[active_from, quiet_from)`` (open: any time before), not in
    ``[quiet_from, quiet_until)``, and again since ``quiet_until``."""

    type: Literal["restarted"]
    event: EventSpec
    active_from: Moment | None = None
    quiet_from: Moment
    quiet_until: Moment

    @model_validator(mode="after")
    def _order(self) -> RestartedCondition:
        _ordered(self.active_from, self.quiet_from, "active_from before quiet_from")
        _ordered(self.quiet_from, self.quiet_until, "quiet_from before quiet_until")
        return self


class OrdersCondition(_Strict):
    """A commerce aggregate over the customer's orders in a window: ``order_count``,
    ``total_spent`` (net of refunds), ``average_basket``, ``days_since_last_order``."""

    type: Literal["orders"]
    metric: Literal["order_count", "total_spent", "average_basket", "days_since_last_order"]
    op: Comparison
    value: Amount
    window: Window | None = None


class CategoryCondition(_Strict):
    """Bought a product of one of these categories (in a window)."""

    type: Literal["bought_category"]
    categories: list[Text] = Field(min_length=1, max_length=100)
    window: Window | None = None


class ConsentCondition(_Strict):
    """The customer's current consent decision for a purpose (``none``: never decided)."""

    type: Literal["consent"]
    purpose: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    state: Literal["granted", "withdrawn", "none"] = "granted"


class SegmentCondition(_Strict):
    """Membership of another segment (by slug); cycles are refused."""

    type: Literal["segment"]
    segment: str = Field(pattern=SLUG_PATTERN)


class ScoreCondition(_Strict):
    """A customer score of any kind (``rfm_group``, ``persona``, predictions): its label in a
    list and/or its value compared."""

    type: Literal["score"]
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    labels: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    op: Comparison | None = None
    value: Amount | None = None

    @model_validator(mode="after")
    def _something(self) -> ScoreCondition:
        if (self.op is None) != (self.value is None):
            raise ValueError("give op and value together")
        if not self.labels and self.op is None:
            raise ValueError("give labels, or op and value")
        return self


Condition = (
    AgeCondition
    | AttributeCondition
    | TraitCondition
    | ComputedTraitCondition
    | ProfileDateCondition
    | EventCondition
    | OccurrenceCondition
    | SequenceCondition
    | RegularlyCondition
    | StoppedCondition
    | RestartedCondition
    | OrdersCondition
    | CategoryCondition
    | ConsentCondition
    | SegmentCondition
    | ScoreCondition
)
CONDITION_TYPES: tuple[type[BaseModel], ...] = (
    AgeCondition,
    AttributeCondition,
    TraitCondition,
    ComputedTraitCondition,
    ProfileDateCondition,
    EventCondition,
    OccurrenceCondition,
    SequenceCondition,
    RegularlyCondition,
    StoppedCondition,
    RestartedCondition,
    OrdersCondition,
    CategoryCondition,
    ConsentCondition,
    SegmentCondition,
    ScoreCondition,
)


class AllGroup(_Strict):
    """Every child holds (an empty ``all`` holds for everyone)."""

    all: list[Node] = Field(max_length=MAX_CONDITIONS)


class AnyGroup(_Strict):
    """At least one child holds (an empty ``any`` holds for no one)."""

    any: list[Node] = Field(max_length=MAX_CONDITIONS)


class NotGroup(_Strict):
    """The child does not hold."""

    not_: Node = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _node_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        if isinstance(value, AllGroup):
            return "all"
        if isinstance(value, AnyGroup):
            return "any"
        if isinstance(value, NotGroup):
            return "not"
        return str(getattr(value, "type", None))
    if not isinstance(value, dict):
        return None
    for group in ("all", "any", "not"):
        if group in value:
            return group
    kind = value.get("type")
    return kind if isinstance(kind, str) else None


Node = Annotated[
    Annotated[AllGroup, Tag("all")]
    | Annotated[AnyGroup, Tag("any")]
    | Annotated[NotGroup, Tag("not")]
    | Annotated[AgeCondition, Tag("age")]
    | Annotated[AttributeCondition, Tag("attribute")]
    | Annotated[TraitCondition, Tag("trait")]
    | Annotated[ComputedTraitCondition, Tag("computed_trait")]
    | Annotated[ProfileDateCondition, Tag("profile_date")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[OccurrenceCondition, Tag("occurrence")]
    | Annotated[SequenceCondition, Tag("sequence")]
    | Annotated[RegularlyCondition, Tag("regularly")]
    | Annotated[StoppedCondition, Tag("stopped")]
    | Annotated[RestartedCondition, Tag("restarted")]
    | Annotated[OrdersCondition, Tag("orders")]
    | Annotated[CategoryCondition, Tag("bought_category")]
    | Annotated[ConsentCondition, Tag("consent")]
    | Annotated[SegmentCondition, Tag("segment")]
    | Annotated[ScoreCondition, Tag("score")],
    Discriminator(
        _node_tag,
        custom_error_type="invalid_node",
        custom_error_message="a node is a group ('all', 'any', 'not') or a condition with a "
        "known 'type'",
    ),
]
AllGroup.model_rebuild()
AnyGroup.model_rebuild()
NotGroup.model_rebuild()

Group = AllGroup | AnyGroup | NotGroup
NODE: TypeAdapter[Node] = TypeAdapter(Node)


def children(node: Node) -> list[Node]:
    """A group's children (none for a condition)."""
    if isinstance(node, AllGroup):
        return list(node.all)
    if isinstance(node, AnyGroup):
        return list(node.any)
    if isinstance(node, NotGroup):
        return [node.not_]
    return []


def dump(node: Node) -> dict[str, Any]:
    """A rule as its JSON document (what is stored and shown)."""
    return NODE.dump_python(node, mode="json", by_alias=True, exclude_defaults=True)  # type: ignore[no-any-return]


def rules_schema() -> dict[str, Any]:
    """The published JSON Schema of a rule."""
    schema = NODE.json_schema(by_alias=True)
    schema["title"] = "clientvault segment rule"
    return schema


# --- parsing with clear errors ------------------------------------------------------------


def check_shape(document: object, *, root: str = "rules") -> None:
    """Refuse a document deeper than ``MAX_DEPTH`` or larger than ``MAX_CONDITIONS`` nodes,
    walking it with an explicit stack (never recursion, so depth cannot crash it)."""
    stack: list[tuple[object, int, str]] = [(document, 1, root)]
    nodes = 0
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            if any(key in value for key in ("all", "any", "not")) or "type" in value:
                nodes += 1
                if nodes > MAX_CONDITIONS:
                    raise InvalidInput(
                        f"{root}: a rule may hold at most {MAX_CONDITIONS} conditions and groups",
                        code="rule_too_large",
                    )
            for key in ("all", "any", "not"):
                child = value.get(key)
                if child is None:
                    continue
                if depth >= MAX_DEPTH:
                    raise InvalidInput(
                        f"{path}.{key}: groups may nest at most {MAX_DEPTH} levels deep",
                        code="rule_too_deep",
                    )
                if isinstance(child, list):
                    if len(child) > MAX_CONDITIONS:
                        raise InvalidInput(
                            f"{path}.{key}: a rule may hold at most {MAX_CONDITIONS} conditions "
                            "and groups",
                            code="rule_too_large",
                        )
                    stack.extend(
                        (item, depth + 1, f"{path}.{key}[{i}]") for i, item in enumerate(child)
                    )
                else:
                    stack.append((child, depth + 1, f"{path}.{key}"))


def error_path(document: object, loc: tuple[int | str, ...], *, root: str = "rules") -> str:
    """The path of a validation error in the document as written: pydantic's location also
    holds, first at each node, the union tag it chose (``event``, ``all``), which is not a
    step of the document (though it may be spelled like a key of it)."""
    path = root
    here = document
    tag_pending = isinstance(here, dict) and _node_tag(here) is not None
    for part in loc:
        if tag_pending and isinstance(here, dict) and part == _node_tag(here):
            tag_pending = False
            continue
        if isinstance(part, int) and isinstance(here, list) and 0 <= part < len(here):
            path += f"[{part}]"
            here = here[part]
        elif isinstance(part, str) and isinstance(here, dict) and part in here:
            path += f".{part}"
            here = here[part]
        else:
            path += f".{part}" if isinstance(part, str) else f"[{part}]"
            here = None
        tag_pending = isinstance(here, dict) and _node_tag(here) is not None
    return path


def validation_message(document: object, error: ValidationError, *, root: str = "rules") -> str:
    """Every error of a validation as ``path: message`` lines (the first few)."""
    lines = []
    for item in error.errors()[:5]:
        lines.append(f"{error_path(document, tuple(item['loc']), root=root)}: {item['msg']}")
    more = error.error_count() - 5
    if more > 0:
        lines.append(f"…and {more} more")
    return "; ".join(lines)


def parse_rules(document: object, *, root: str = "rules") -> Node:
    """A rule from its JSON document, or ``InvalidInput`` naming the faulty node's path."""
    check_shape(document, root=root)
    try:
        return NODE.validate_python(document)
    except ValidationError as exc:
        raise InvalidInput(
            validation_message(document, exc, root=root), code="invalid_rule"
        ) from exc


_Model = TypeVar("_Model", bound=BaseModel)


def read_object(
    model: type[_Model], document: object, *, root: str, code: str, shape: str
) -> _Model:
    """A definition (segment, computed trait) from a parsed JSON/YAML document: ``shape``
    when it is not an object, else errors naming their path from ``root``."""
    if not isinstance(document, dict):
        raise InvalidInput(shape)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(validation_message(document, exc, root=root), code=code) from exc
