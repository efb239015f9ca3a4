"""AWS Backup's typed errors, serialised the way rest-json clients parse them.

botocore and the Rust SDK take the error code from the ``x-amzn-errortype`` header
(falling back to ``__type``/``code`` in the body) and the message from
``Message``/``message``. The Backup model declares ``Code`` and ``Message`` members
on every error shape, so the body carries both spellings of the code.
"""

import json

from moto.core.exceptions import JsonRESTError


class BackupError(JsonRESTError):
    error_code = "ServiceUnavailableException"
    status = 400

    def __init__(self, message: str):
        super().__init__(self.error_code, message)
        self.code = self.status
        self.description = json.dumps({"__type": self.error_code, "Code": self.error_code, "Message": message})


class ResourceNotFound(BackupError):
    error_code = "ResourceNotFoundException"


class InvalidParameterValue(BackupError):
    error_code = "InvalidParameterValueException"


class InvalidRequest(BackupError):
    error_code = "InvalidRequestException"


class MissingParameterValue(BackupError):
    error_code = "MissingParameterValueException"


class LimitExceeded(BackupError):
    error_code = "LimitExceededException"


class AccessDenied(BackupError):
    error_code = "AccessDeniedException"
    status = 403
