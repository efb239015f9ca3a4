//! Turning AWS SDK errors into messages a user can act on, and into retry decisions.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The full error chain in one line ("service error: AccessDeniedException: User … is not
/// authorized …"), instead of the SDK's terse top-level "service error".
pub fn describe<E: std::error::Error + 'static>(err: &E) -> String {
    DisplayErrorContext(err).to_string()
}

/// What to do about a failed AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ErrorClass {
    /// Throttling, service trouble, timeouts: try again later (SQS redelivery with backoff).
    Retryable,
    /// The thing is not there (vault, recovery point, job).
    NotFound,
    /// Access denied, bad parameters, a locked vault: retrying cannot help.
    Permanent,
}

const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ConcurrentModificationException",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NotFoundException",
    "AWSOrganizationsNotInUseException",
];

pub fn classify_code(code: Option<&str>) -> ErrorClass {
    match code {
        Some(c) if RETRYABLE_CODES.contains(&c) => ErrorClass::Retryable,
        Some(c) if NOT_FOUND_CODES.contains(&c) => ErrorClass::NotFound,
        Some(_) => ErrorClass::Permanent,
        // No code at all: the call never got a modelled answer (timeout, dispatch failure,
        // an unparseable response): transient until proven otherwise.
        None => ErrorClass::Retryable,
    }
}

pub fn classify<E, R>(err: &SdkError<E, R>) -> ErrorClass
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(_) => classify_code(code(err).as_deref()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Retryable
        }
        _ => ErrorClass::Permanent,
    }
}

/// The error code of a service error, if it is one.
///
/// The code normally comes from the response metadata. A modelled error can exist without it
/// (built by hand, or by a future deserializer change), so the variant's name (the operation
/// error enums are named after the AWS error codes) is the fallback.
pub fn code<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    let SdkError::ServiceError(service) = err else {
        return None;
    };
    if let Some(code) = service.err().code() {
        return Some(code.to_owned());
    }
    let debug = format!("{:?}", service.err());
    let variant = debug.split(['(', ' ', '{']).next().unwrap_or_default();
    (variant.ends_with("Exception") || variant.ends_with("Fault")).then(|| variant.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_classes() {
        assert_eq!(
            classify_code(Some("ThrottlingException")),
            ErrorClass::Retryable
        );
        assert_eq!(
            classify_code(Some("LimitExceededException")),
            ErrorClass::Retryable
        );
        assert_eq!(
            classify_code(Some("ResourceNotFoundException")),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_code(Some("AccessDeniedException")),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_code(Some("InvalidRequestException")),
            ErrorClass::Permanent
        );
        assert_eq!(classify_code(None), ErrorClass::Retryable);
    }
}
