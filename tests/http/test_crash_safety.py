"""Crash safety: the gateway is killed with SIGKILL at random points while
clients create users, enrol devices and fail logins into a lock. After each
kill the database passes ``PRAGMA integrity_check`` and, after a restart,
every write the gateway acknowledged is there.

The kill points are random but seeded, and counted in acknowledged writes
(not in time): a failure reproduces."""

import random
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from gateway.store.sqlite import DATABASE_FILE
from tests.http.harness import ADMIN_TOKEN

ROUNDS = 4
WORKERS = 6


class Acknowledged:
    """What the gateway said it had done, and the kill switch."""

    def __init__(self, kill_after: int) -> None:
        self.users: set[str] = set()
        self.devices: dict[str, int] = {}
        self.locked: set[str] = set()
        self.count = 0
        self.kill_after = kill_after
        self.killed = threading.Event()
        self._mutex = threading.Lock()

    def record(self, kind: str, username: str) -> bool:
        """Note one acknowledged write; True when it is time to kill."""
        with self._mutex:
            if kind == "user":
                self.users.add(username)
            elif kind == "device":
                self.devices[username] = self.devices.get(username, 0) + 1
            else:
                self.locked.add(username)
            self.count += 1
            return self.count >= self.kill_after


def work(gateway, acks: Acknowledged, worker: int, round_: int) -> None:
    admin = httpx.Client(
        base_url=gateway.admin_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    public = httpx.Client(base_url=gateway.public_url)
    try:
        for n in range(1_000):
            if acks.killed.is_set():
                return
            name = f"crash{round_}w{worker}n{n}"
            answer = admin.post("/admin/v1/users", json={"username": name, "password": "secret123"})
            if answer.status_code != 201:
                return
            kill = acks.record("user", name)
            if n % 2 == 0:
                answer = admin.post(f"/admin/v1/users/{name}/devices", json={"type": "totp"})
                if answer.status_code != 201:
                    return
                kill = acks.record("device", name) or kill
            elif n % 3 == 1:
                for _ in range(10):
                    answer = public.post(
                        "/v1/login",
                        json={"username": name, "password": "wrong123", "platform": "tws"},
                    )
                    if answer.status_code != 401:
                        return
                kill = acks.record("lock", name) or kill
            if kill and not acks.killed.is_set():
                acks.killed.set()
                gateway.process.send_signal(signal.SIGKILL)
                return
    except httpx.HTTPError:
        return  # the gateway died under this request
    finally:
        admin.close()
        public.close()


def test_acknowledged_writes_survive_sigkill(own_gateway):
    rng = random.Random(20261123)
    gateway = own_gateway.start()
    acks = Acknowledged(kill_after=0)
    for round_ in range(ROUNDS):
        acks.kill_after = acks.count + rng.randint(5, 60)
        acks.killed.clear()
        with ThreadPoolExecutor(WORKERS) as pool:
            for worker in range(WORKERS):
                pool.submit(work, gateway, acks, worker, round_)
        assert acks.killed.is_set(), "the round ended before its kill point"
        gateway.process.wait(timeout=30)
        assert gateway.process.returncode == -signal.SIGKILL
        with sqlite3.connect(gateway.data_dir / DATABASE_FILE) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        gateway.process = None
        gateway.start()
        for username in sorted(acks.users):
            info = gateway.admin.get(f"/admin/v1/users/{username}")
            assert info.status_code == 200, f"{username} was acknowledged and lost"
            body = info.json()
            assert len(body["devices"]) >= acks.devices.get(username, 0), username
            if username in acks.locked:
                assert body["locked"], f"{username}'s lock was acknowledged and lost"
    assert len(acks.users) >= ROUNDS * 5
