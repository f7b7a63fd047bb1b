"""The named load scenarios of ``python -m bench.load run SCENARIO``."""

from __future__ import annotations

from bench.load.scenarios.attacks import CredentialStuffing, LockoutStorm
from bench.load.scenarios.base import RunContext, RunOptions, Scenario
from bench.load.scenarios.logins import (
    CardStorm,
    LoginStorm,
    PasskeyStorm,
    PushStorm,
    TakeoverChurn,
)
from bench.load.scenarios.recovery import RecoveryFlood
from bench.load.scenarios.sessions import Ping, SessionTraffic

SCENARIOS: dict[str, type[Scenario]] = {
    cls.name: cls
    for cls in (
        LoginStorm,
        CardStorm,
        PushStorm,
        PasskeyStorm,
        SessionTraffic,
        CredentialStuffing,
        TakeoverChurn,
        LockoutStorm,
        RecoveryFlood,
        Ping,
    )
}

__all__ = ["SCENARIOS", "RunContext", "RunOptions", "Scenario"]
