"""Which KMS key protects a backup of a resource AWS Backup does not fully manage, and what
an AWS managed key (``aws/rds``) forbids.

AWS Backup keeps the resource's own key for RDS and Aurora backups (its "independent
encryption" is only for fully managed types); a DB created encrypted without a key uses the
account's AWS managed key ``alias/aws/rds``. A copy within the account is encrypted with the
destination vault's key; a copy to another account of a point under an AWS managed key fails,
because such a key's policy can never admit another account ("Cross-account copy with AWS
managed keys isn't supported for resources that aren't fully managed by AWS Backup", AWS
Backup developer guide, "Encryption for backups in AWS Backup").

moto 5.2.1 creates the keys behind the reserved ``alias/aws/*`` aliases on first use, as
customer managed keys; :func:`install` makes them report ``KeyManager`` ``AWS`` as AWS does.
"""

from typing import Any

from moto.kms.models import KmsBackend, kms_backends
from moto.rds.models import rds_backends

from . import resources

RDS_ALIAS = "alias/aws/rds"

# What moto stores as the KMS key of an instance created encrypted without a KmsKeyId.
_MOTO_DEFAULT_KEY = "default_kms_key_id"


def install() -> None:
    """Keys behind reserved ``alias/aws/*`` aliases are AWS managed (``KeyManager`` ``AWS``)."""
    original = KmsBackend._generate_default_keys
    if getattr(original, "aws_managed", False):
        return

    def generate_default_keys(self: KmsBackend, alias_name: str) -> Any:
        key_id = original(self, alias_name)
        if key_id is not None:
            self.keys[key_id].key_manager = "AWS"
        return key_id

    generate_default_keys.aws_managed = True  # type: ignore[attr-defined]
    KmsBackend._generate_default_keys = generate_default_keys  # type: ignore[method-assign]


def aws_managed_key_arn(account_id: str, region: str, alias: str = RDS_ALIAS) -> str:
    """The account's AWS managed key behind ``alias`` (created on first use, as in AWS)."""
    backend = kms_backends[account_id][region]
    key_id = backend.get_key_id_from_alias(alias)
    assert key_id is not None, alias
    return backend.keys[key_id].arn


def is_aws_managed(key_arn: str | None) -> bool:
    """Whether ``key_arn`` is an AWS managed key of the test bed's KMS."""
    if not key_arn or ":key/" not in key_arn:
        return False
    arn = resources.parse_arn(key_arn, "KMS key ARN")
    key = kms_backends[arn.account_id][arn.region].keys.get(key_arn.split(":key/", 1)[1])
    return key is not None and key.key_manager == "AWS"


def _key_arn(account_id: str, region: str, key_id: str | None) -> str | None:
    """A moto RDS ``kms_key_id`` (ARN, key id, alias, or moto's default marker) as a key ARN."""
    if key_id in (None, "", _MOTO_DEFAULT_KEY):
        return aws_managed_key_arn(account_id, region)
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    backend = kms_backends[account_id][region]
    if key_id.startswith("alias/") or (key_id.startswith("arn:") and ":alias/" in key_id):
        found = backend.get_key_id_from_alias(key_id.split(":", 5)[-1] if key_id.startswith("arn:") else key_id)
        return backend.keys[found].arn if found else None
    key = backend.keys.get(key_id)
    return key.arn if key else None


def backup_key(account_id: str, region: str, resource_arn: str, resource_type: str, vault_key: str | None) -> str | None:
    """The key of a new backup of ``resource_arn``: the DB's own for RDS instances and Aurora
    clusters moto knows (``None`` when the DB is not encrypted), else the vault's."""
    if resource_type not in ("RDS", "Aurora"):
        return vault_key
    rds = rds_backends[account_id][region]
    name = resources.parse_arn(resource_arn).resource.split(":", 1)[-1]
    db = rds.databases.get(name) if resource_type == "RDS" else rds.clusters.get(name)
    if db is None:
        return vault_key
    if not db.storage_encrypted:
        return None
    return _key_arn(account_id, region, db.kms_key_id)


def cross_account_refusal(point_key: str | None) -> str | None:
    """Why a copy of a point under ``point_key`` to another account fails, if it does."""
    if point_key is None or not is_aws_managed(point_key):
        return None
    arn = resources.parse_arn(point_key, "KMS key ARN")
    key = kms_backends[arn.account_id][arn.region].keys[point_key.split(":key/", 1)[1]]
    alias = ", ".join(sorted(key.aliases)) or "an AWS managed key"
    return (
        f"Copy job failed: the recovery point is encrypted with the AWS managed KMS key {point_key} ({alias}), "
        "whose key policy cannot allow another account to use it. Cross-account copy with AWS managed keys "
        "isn't supported for resources that aren't fully managed by AWS Backup"
    )
