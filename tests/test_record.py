"""Records (gearshift._record) behave as the dataclass the same class body would make, and load nothing."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import subprocess
import sys

import pytest

import gearshift
from gearshift import _errors, _native, _options, _plan, _profile, _report, _task
from gearshift._auto import cluster_costs, costs, first, state
from gearshift._record import Record, field, fields, replace

#: every record class in gearshift (a new one joins here, and tests/test_import.py keeps auto's load light)
RECORDS = (
    _profile.Profile,
    _plan.Alternative,
    _plan.Plan,
    _errors.Failure,
    _report.Segment,
    _report.RunReport,
    _native.NativePool,
    _native.NativeUse,
    _task.Task,
    _task.ChunkResult,
    _options.Flag,
    _options.Options,
    costs.Constant,
    costs.Machine,
    cluster_costs.Cluster,
    first.FirstItem,
    state.RunState,
)


class Sample(Record, frozen=True, slots=True):
    """Every feature a record has, in one class."""

    a: int
    b: str = "b"
    items: list[int] = field(default_factory=list, compare=False)
    hidden: int = field(default=0, repr=False)
    derived: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", self.a * 2)


@dataclasses.dataclass(frozen=True, slots=True)
class SampleDataclass:
    """The same body, made by @dataclass: what Sample must behave as."""

    a: int
    b: str = "b"
    items: list[int] = dataclasses.field(default_factory=list, compare=False)
    hidden: int = dataclasses.field(default=0, repr=False)
    derived: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", self.a * 2)


def test_a_record_behaves_as_the_dataclass_of_the_same_body() -> None:
    record, twin = Sample(3, items=[1]), SampleDataclass(3, items=[1])
    assert repr(record) == repr(twin).replace("SampleDataclass", "Sample")
    assert str(inspect.signature(Sample)) == str(inspect.signature(SampleDataclass))
    assert Sample.__match_args__ == SampleDataclass.__match_args__
    assert record == Sample(3, items=[2])  # (items is not compared)
    assert record != Sample(4) and record != twin
    assert hash(record) == hash(Sample(3))
    assert record.derived == 6 and Sample(3).items == [] and Sample(3).items is not Sample(3).items
    assert not hasattr(record, "__dict__")  # slotted
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'a'"):
        record.a = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del record.b  # type: ignore[misc]


def test_a_record_pickles_and_copies() -> None:
    record = Sample(3, "x", [1, 2], hidden=7)
    for again in (pickle.loads(pickle.dumps(record)), copy.copy(record), copy.deepcopy(record)):
        assert again == record and again.items == [1, 2] and again.hidden == 7 and again.derived == 6


def test_a_frozen_record_with_a_field_not_set_yet_pickles_without_it() -> None:
    # (a frozen slotted record's state holds MISSING for a slot not set: it must pickle as itself)
    half = Sample.__new__(Sample)
    object.__setattr__(half, "a", 1)
    again = pickle.loads(pickle.dumps(half))
    assert again.a == 1 and not hasattr(again, "b")


def test_the_dataclasses_functions_work_on_records() -> None:
    record = Sample(3, items=[1])
    assert dataclasses.is_dataclass(Sample) and dataclasses.is_dataclass(record)
    assert [f.name for f in dataclasses.fields(Sample)] == [f.name for f in dataclasses.fields(SampleDataclass)]
    assert [f.name for f in fields(record)] == ["a", "b", "items", "hidden", "derived"]
    assert dataclasses.asdict(record) == dataclasses.asdict(SampleDataclass(3, items=[1]))
    assert dataclasses.replace(record, b="y") == replace(record, b="y") == Sample(3, "y")
    assert replace(record, a=5).derived == 10
    with pytest.raises(ValueError, match="init=False"):
        replace(record, derived=1)
    if sys.version_info >= (3, 13):  # copy.replace, as on a dataclass
        assert copy.replace(record, b="z") == Sample(3, "z")  # type: ignore[attr-defined]


def test_a_mutable_record_is_unhashable_and_an_eq_false_one_compares_by_identity() -> None:
    class Mutable(Record):
        x: int = 0

    class ByIdentity(Record, eq=False):
        x: int = 0

    m = Mutable()
    m.x = 2
    assert m == Mutable(2) and m.__dict__ == {"x": 2}
    with pytest.raises(TypeError, match="unhashable"):
        hash(m)
    assert ByIdentity(1) != ByIdentity(1) and hash(ByIdentity(1)) is not None


def test_a_record_refuses_what_a_dataclass_refuses() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument 'a'"):

        class Bad(Record):
            a: int = 1
            b: int

    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=list)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
def test_gearshift_s_records_are_dataclasses_to_the_dataclasses_module(cls: type[Record]) -> None:
    # Profile, Plan, Alternative, Failure and RunReport are public: users may call dataclasses.fields,
    # replace or asdict on them, as they could when they were made with @dataclass.
    assert dataclasses.is_dataclass(cls)
    assert [f.name for f in dataclasses.fields(cls)] == [f.name for f in fields(cls)]
    assert {f.name for f in dataclasses.fields(cls) if f.init} == set(inspect.signature(cls).parameters)


def test_public_records_keep_their_dataclass_behaviour() -> None:
    plan = gearshift.Plan(mode="thread", workers=2, reasons=("r",))
    assert dataclasses.replace(plan, workers=3).workers == 3
    assert repr(plan).startswith("Plan(mode='thread', workers=2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.workers = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(plan)) == plan


def test_records_load_neither_dataclasses_nor_inspect() -> None:
    # (the reason records exist: see gearshift/_record.py)
    code = (
        "import sys, gearshift._record, gearshift._profile, gearshift._plan, gearshift._task\n"
        "print(sorted(m for m in ('dataclasses', 'inspect') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
