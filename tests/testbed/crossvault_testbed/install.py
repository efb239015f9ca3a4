"""Wire the extension into moto, in-process, before the server starts."""

from typing import Any

from moto.backup import urls as backup_urls
from moto.backup.models import backup_backends
from moto.core.responses import BaseResponse
from moto.events.utils import EventTemplateParser

from . import automation, clock, managed_keys, requestlog, restores
from . import stacksets  # noqa: F401  (importing it makes moto's StackSets behave as AWS's)
from . import cloudformation  # noqa: F401  (stacks wait for their custom resources, as AWS's do)
from .backend import ExtendedBackupBackend
from .resources import include_awsbackup_snapshots_in_lookups
from .responses import ORIGINAL_CALL_ACTION, ExtendedBackupResponse

_dispatch = ExtendedBackupResponse.dispatch

# Every Backup URL the test bed serves (moto's own and the added operations). The
# operation itself is resolved from botocore's model by method and URI; these patterns
# only have to route the request to the Backup application.
URL_PATHS = {
    "{0}/audit/report-plans/$": _dispatch,
    "{0}/audit/report-plans/(?P<reportPlanName>[^/]+)$": _dispatch,
    "{0}/backup/plans/$": _dispatch,
    "{0}/backup/plans/(?P<name>.+)/?$": _dispatch,
    "{0}/backup-vaults/$": _dispatch,
    "{0}/backup-vaults/(?P<name>[^/]+)$": _dispatch,
    "{0}/backup-vaults/(?P<name>[^/]+)/vault-lock$": _dispatch,
    "{0}/backup-vaults/(?P<name>[^/]+)/access-policy$": _dispatch,
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/$": _dispatch,
    "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<arn>.+)$": _dispatch,
    "{0}/resources/(?P<arn>.+)/recovery-points/$": _dispatch,
    "{0}/backup-jobs/$": _dispatch,
    "{0}/backup-jobs/(?P<id>[^/]+)$": _dispatch,
    "{0}/copy-jobs/$": _dispatch,
    "{0}/copy-jobs/(?P<id>[^/]+)$": _dispatch,
    "{0}/restore-jobs/$": _dispatch,
    "{0}/restore-jobs/(?P<id>[^/]+)$": _dispatch,
    "{0}/account-settings$": _dispatch,
    "{0}/global-settings$": _dispatch,
    "{0}/tags/(?P<resource_arn>.+)$": _dispatch,
    "{0}/untag/(?P<resource_arn>.+)$": _dispatch,
}

# EventBridge delivers the whole event to targets without an InputTransformer, "account"
# included; moto 5.2.1's default template drops it, and the crossvault handler reads it.
EVENT_TEMPLATE = (
    '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
    '"detail": <detail>}'
)


def _logged_call_action(self: BaseResponse) -> Any:
    """moto's dispatch of any service, entered in the request log (Backup logs its own)."""
    with clock.in_scope(clock.scope_of(self.current_account)):
        entry = requestlog.record(
            self.service_name or "unknown",
            self._get_action() or "unknown",
            self.current_account,
            self.region,
            requestlog.token_of(self.body),
            requestlog.app_of(self.headers),
        )
    status, headers, body = ORIGINAL_CALL_ACTION(self)
    requestlog.finish(entry, status, headers)
    return status, headers, body


def install() -> None:
    """Make moto build extended Backup backends, route Backup URLs to the extension,
    deliver complete events to EventBridge targets, let RDS find AWS Backup snapshots
    and log every API call.

    Must run before the first Backup backend is created (i.e. before serving requests):
    backends already built keep moto's class.
    """
    backup_backends.backend = ExtendedBackupBackend
    backup_urls.url_paths.clear()
    backup_urls.url_paths.update(URL_PATHS)
    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = EVENT_TEMPLATE
    include_awsbackup_snapshots_in_lookups()
    managed_keys.install()
    # The pre-prod refresh: new DB instances emit RDS's "created" event; SSM runs
    # (emulated) Automation executions for the masking hook.
    restores.emit_instance_created_events()
    automation.install()
    BaseResponse.call_action = _logged_call_action  # type: ignore[method-assign]
