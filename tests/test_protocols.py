"""gearshift._protocols checks isinstance and issubclass as typing's runtime_checkable protocols do."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

from gearshift import _protocols


def _pair(body: dict[str, object]) -> tuple[type, type]:
    """The same protocol body, made with typing's Protocol and with gearshift's."""
    ours = type("Ours", (_protocols.Protocol,), dict(body))
    theirs = typing.runtime_checkable(type("Theirs", (typing.Protocol,), dict(body)))
    return ours, theirs


def _method(self: object) -> None: ...


class Both:
    def stop(self) -> None: ...

    def ready(self) -> bool:
        return True


class StopOnly:
    def stop(self) -> None: ...


class StopIsNone:
    stop = None

    def ready(self) -> bool:
        return True


class WithWorkers:
    workers = 2

    def stop(self) -> None: ...


@pytest.mark.parametrize("candidate", [Both, StopOnly, StopIsNone, WithWorkers, object])
def test_method_protocols_agree_with_typing(candidate: type) -> None:
    ours, theirs = _pair({"stop": _method, "ready": _method})
    assert isinstance(candidate(), ours) == isinstance(candidate(), theirs)
    assert issubclass(candidate, ours) == issubclass(candidate, theirs)


@pytest.mark.parametrize("candidate", [Both, StopOnly, WithWorkers, object])
def test_protocols_with_data_members_check_instances_and_refuse_issubclass(candidate: type) -> None:
    body = {"stop": _method, "__annotations__": {"workers": "int"}}
    ours, theirs = _pair(body)
    # (issubclass first: on 3.11 an isinstance check that fails caches a "no" that issubclass then reads)
    with pytest.raises(TypeError, match="non-method members"):
        issubclass(candidate, ours)
    with pytest.raises(TypeError, match="non-method members"):
        issubclass(candidate, theirs)
    assert isinstance(candidate(), ours) == isinstance(candidate(), theirs)


def test_properties_and_classmethods_are_members() -> None:
    ours, theirs = _pair({"address": property(lambda self: "x"), "default_workers": classmethod(_method)})

    class Has:
        address = "tcp://here"

        @classmethod
        def default_workers(cls) -> None: ...

    assert isinstance(Has(), ours) and isinstance(Has(), theirs)
    assert not isinstance(StopOnly(), ours) and not isinstance(StopOnly(), theirs)


def test_the_backend_protocol_loads_no_typing() -> None:
    code = "import sys, gearshift._backends._base\nprint('typing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
