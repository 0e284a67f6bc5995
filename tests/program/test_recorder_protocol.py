"""The recorder reads the engine's secret marker from the SDK, where it is private. It is
part of Pulumi's wire protocol (sdk/go/common/resource/sig/sig.go: the signature key and
the secret signature every SDK and the engine share), so these values cannot change without
breaking every Pulumi program; if the SDK moves them, this test says so first."""

from __future__ import annotations

from lucia_deploy import recorder


def test_secret_marker_is_the_engine_protocols() -> None:
    assert recorder.SECRET_SIG == "4dabf18193072939515e22adb298388d"
    assert recorder.SECRET_MARK == "1b47061264138c4ac30d75fd1eb44270"

