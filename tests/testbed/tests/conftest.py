"""Session fixtures: one real test bed server (subprocess, free port) and boto3 clients.

Tests never reset shared state: each uses its own account ids, vault names and
resources, so they can run in any order against one long-lived server.
"""

import itertools
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

TESTBED_DIR = Path(__file__).resolve().parents[1]
MANAGEMENT = "999999999999"
REGION = "eu-west-1"
BACKUP_REGION = "eu-central-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("testbed") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, str(TESTBED_DIR / "server.py"), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/_testbed/health", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"test bed did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


class Control:
    """The /_testbed/ control API."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.endpoint}/_testbed{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, payload = self.call(method, path, body)
        assert status == 200, payload
        return payload


@pytest.fixture(scope="session")
def control(endpoint: str) -> Control:
    return Control(endpoint)


ClientFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def client(endpoint: str) -> ClientFactory:
    """``client("backup", "111111111111", "eu-west-1")``: a boto3 client acting as that account."""

    def make(service: str, account: str, region: str = REGION) -> Any:
        made = boto3.client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),  # one attempt: tests see every error
        )

        def add_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        made.meta.events.register("before-sign.*.*", add_account)
        return made

    return make


_account_ids = itertools.count(100_000_000_001)


@pytest.fixture
def accounts() -> Callable[[], str]:
    """Fresh 12-digit account ids, never used before in this session (per-test isolation)."""
    return lambda: str(next(_account_ids))


@pytest.fixture
def name() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


ROLE = "arn:aws:iam::{}:role/backup-copy-role"


class World:
    """Helpers that set up accounts, organizations, vaults and resources for one test."""

    def __init__(
        self, client: ClientFactory, control: Control, accounts: Callable[[], str], name: Callable[[str], str]
    ):
        self.client = client
        self.control = control
        self.fresh_account = accounts
        self.name = name

    def backup(self, account: str, region: str = REGION) -> Any:
        return self.client("backup", account, region)

    def organization(self, members: list[Any], cross_account: bool = True) -> dict[str, Any]:
        management = self.fresh_account()
        org = self.control.ok("POST", "/organization", {"managementAccountId": management, "accounts": members})
        if cross_account:
            self.backup(management).update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "true"})
        return org

    def vault(self, account: str, region: str = REGION, policy: dict[str, Any] | None = None) -> str:
        vault_name = self.name("vault")
        backup = self.backup(account, region)
        arn = backup.create_backup_vault(BackupVaultName=vault_name)["BackupVaultArn"]
        if policy is not None:
            backup.put_backup_vault_access_policy(BackupVaultName=vault_name, Policy=json.dumps(policy))
        return arn

    def efs_point(self, account: str, vault_arn: str, region: str = REGION, **extra: Any) -> str:
        """An on-demand EFS backup into the vault; returns the recovery point ARN."""
        job = self.backup(account, region).start_backup_job(
            BackupVaultName=vault_arn.rsplit(":", 1)[-1],
            ResourceArn=f"arn:aws:elasticfilesystem:{region}:{account}:file-system/fs-{uuid.uuid4().hex[:17]}",
            IamRoleArn=ROLE.format(account),
            **extra,
        )
        return job["RecoveryPointArn"]

    def rds_instance(self, account: str, region: str = REGION) -> str:
        db = self.name("db")
        return self.client("rds", account, region).create_db_instance(
            DBInstanceIdentifier=db,
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin",
            MasterUserPassword="secret-password",
            AllocatedStorage=20,
        )["DBInstance"]["DBInstanceArn"]

    def copy(
        self,
        account: str,
        point: str,
        source_vault_arn: str,
        destination_vault_arn: str,
        region: str = REGION,
        **extra: Any,
    ) -> dict[str, Any]:
        backup = self.backup(account, region)
        job_id = backup.start_copy_job(
            RecoveryPointArn=point,
            SourceBackupVaultName=source_vault_arn.rsplit(":", 1)[-1],
            DestinationBackupVaultArn=destination_vault_arn,
            IamRoleArn=ROLE.format(account),
            **extra,
        )["CopyJobId"]
        return backup.describe_copy_job(CopyJobId=job_id)["CopyJob"]


@pytest.fixture
def world(client: ClientFactory, control: Control, accounts: Callable[[], str], name: Callable[[str], str]) -> World:
    return World(client, control, accounts, name)


def allow_copy_into(
    principal: Any, condition: dict[str, Any] | None = None, action: Any = "backup:CopyIntoBackupVault"
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": "CrossvaultAllowCopyInto",
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}
