"""Organization facts for the Backup rules, read from moto's Organizations backend.

moto keeps an organization in its management account's backend and maps every member
account to it (``organizations_backends.master_accounts``). The control API needs
members with *given* account ids, which moto's ``CreateAccount`` cannot do (it draws
random ids), so :func:`ensure_organization` adds them to the backend directly, the
way an invited account joins.
"""

from dataclasses import dataclass

from moto.iam.models import iam_backends
from moto.organizations.models import (
    FakeOrganization,
    FakeOrganizationalUnit,
    OrganizationsBackend,
    organizations_backends,
)

PARTITION = "aws"


@dataclass(frozen=True)
class Membership:
    organization_id: str
    management_account_id: str
    # aws:PrincipalOrgPaths value: "o-xxx/r-xxxx/ou-xxxx-yyyyyyyy/", root to the account's parent.
    org_path: str


def _backend(account_id: str) -> OrganizationsBackend:
    return organizations_backends[account_id][PARTITION]


def management_backend_of(account_id: str) -> OrganizationsBackend | None:
    if _backend(account_id).org is not None:
        return _backend(account_id)
    owner = organizations_backends.master_accounts.get(account_id)
    if owner is None:
        return None
    return organizations_backends[owner[0]][owner[1]]


def membership(account_id: str) -> Membership | None:
    backend = management_backend_of(account_id)
    if backend is None or backend.org is None:
        return None
    account = backend.get_account_by_id(account_id)
    return Membership(
        organization_id=backend.org.id,
        management_account_id=backend.org.master_account_id,
        org_path=_org_path(backend, backend.org, account.parent_id),
    )


def _org_path(backend: OrganizationsBackend, org: FakeOrganization, parent_id: str) -> str:
    chain = []
    while parent_id:
        chain.append(parent_id)
        parent_id = next((ou.parent_id for ou in backend.ou if ou.id == parent_id), None)
    return "/".join([org.id, *reversed(chain)]) + "/"


class OrganizationConflict(Exception):
    """An account already belongs to another organization."""


def ensure_organization(management_account_id: str, members: list[dict[str, str]]) -> dict[str, object]:
    """Create the organization (or reuse it) and add the given member accounts.

    Idempotent so a long-running test bed can be set up again by every test run.
    Each member is ``{"id": "<12 digits>", "name"?: str, "ou"?: "<OU name under root>"}``.
    """
    backend = _backend(management_account_id)
    if backend.org is None:
        if management_account_id in organizations_backends.master_accounts:
            raise OrganizationConflict(f"Account {management_account_id} is a member of another organization")
        backend.create_organization(region="us-east-1", FeatureSet="ALL")
    assert backend.org is not None
    for member in members:
        account_id = member["id"]
        if account_id == management_account_id:
            continue
        owner = organizations_backends.master_accounts.get(account_id)
        if owner is not None and owner[0] != management_account_id:
            raise OrganizationConflict(f"Account {account_id} is a member of another organization")
        if owner is None:
            _join(backend, account_id, member.get("name") or f"account-{account_id}")
        if member.get("ou"):
            backend.move_account(
                AccountId=account_id,
                SourceParentId=backend.get_account_by_id(account_id).parent_id,
                DestinationParentId=_ou_id(backend, member["ou"]),
            )
    return describe(management_account_id)


def _join(backend: OrganizationsBackend, account_id: str, name: str) -> None:
    # CreateAccount is the only moto entry point that builds a member; it draws a random
    # id and creates OrganizationAccountAccessRole in that random account. Re-key the
    # account to the wanted id and drop the throw-away IAM backend: an account that
    # joins by invitation has no such role anyway.
    status = backend.create_account(AccountName=name, Email=f"{account_id}@example.com")
    random_id = status["CreateAccountStatus"]["AccountId"]
    account = backend.get_account_by_id(random_id)
    account.id = account_id
    account.joined_method = "INVITED"
    organizations_backends.master_accounts[account_id] = organizations_backends.master_accounts.pop(random_id)
    iam_backends.pop(random_id, None)


def _ou_id(backend: OrganizationsBackend, name: str) -> str:
    assert backend.org is not None
    for ou in backend.ou:
        if isinstance(ou, FakeOrganizationalUnit) and ou.name == name and ou.parent_id == backend.org.root_id:
            return ou.id
    created = backend.create_organizational_unit(Name=name, ParentId=backend.org.root_id)
    return created["OrganizationalUnit"]["Id"]


def describe(management_account_id: str) -> dict[str, object]:
    backend = _backend(management_account_id)
    assert backend.org is not None
    org = backend.org
    return {
        "organizationId": org.id,
        "organizationArn": org.arn,
        "rootId": org.root_id,
        "managementAccountId": org.master_account_id,
        "accounts": [
            {
                "id": account.id,
                "name": account.name,
                "parentId": account.parent_id,
                "orgPath": _org_path(backend, org, account.parent_id),
            }
            for account in backend.accounts
        ],
        "organizationalUnits": [
            {"id": ou.id, "name": ou.name, "parentId": ou.parent_id} for ou in backend.ou if ou.id != org.root_id
        ],
    }
