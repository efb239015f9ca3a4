//! Turning AWS SDK errors into messages a user can act on, and into retry decisions.
//!
//! The decision uses what the SDK itself knows about an error, not a list of codes kept here:
//! the failure's kind (timeout, I/O, a response that could not be read), the HTTP status
//! (429, 408 and every 5xx are transient), the error kind the service model marks retryable,
//! and the AWS SDK's own lists of throttling and transient error codes
//! (`aws_runtime::retries::classifiers`), plus any code that names throttling (`KMSThrottling`,
//! `KmsThrottled`, …, raised by a service on behalf of another). Only what a retry cannot fix
//! is permanent: the request could not be built, or the service answered with a client error
//! (access denied, bad parameters, a locked vault).

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::{ErrorKind, ProvideErrorKind};

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

/// Codes that say "not there" without a 404 status.
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NotFoundException",
    "AWSOrganizationsNotInUseException",
];

/// Classifies a service's answer by its code, HTTP status and modelled error kind.
pub fn classify_response(
    code: Option<&str>,
    status: Option<u16>,
    kind: Option<ErrorKind>,
) -> ErrorClass {
    if kind.is_some() {
        return ErrorClass::Retryable;
    }
    if let Some(code) = code
        && (THROTTLING_ERRORS.contains(&code)
            || TRANSIENT_ERRORS.contains(&code)
            || code.to_ascii_lowercase().contains("throttl"))
    {
        return ErrorClass::Retryable;
    }
    if let Some(status) = status
        && (status == 429 || status == 408 || (500..600).contains(&status))
    {
        return ErrorClass::Retryable;
    }
    if code.is_some_and(|c| NOT_FOUND_CODES.contains(&c)) || status == Some(404) {
        return ErrorClass::NotFound;
    }
    match (code, status) {
        (Some(_), _) => ErrorClass::Permanent,
        (None, Some(status)) if (400..500).contains(&status) => ErrorClass::Permanent,
        // No code and no client-error status: nothing says a retry cannot help.
        _ => ErrorClass::Retryable,
    }
}

/// Classifies a failed SDK call.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> ErrorClass
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::fmt::Debug,
{
    match err {
        // The request could not even be built (a missing or invalid input).
        SdkError::ConstructionFailure(_) => ErrorClass::Permanent,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => ErrorClass::Retryable,
        // I/O, connect and read timeouts, a dropped connection. A "user" error (a
        // misconfigured endpoint, say) will not go away on its own.
        SdkError::DispatchFailure(failure) if failure.is_user() => ErrorClass::Permanent,
        SdkError::DispatchFailure(_) => ErrorClass::Retryable,
        SdkError::ServiceError(service) => classify_response(
            code(err).as_deref(),
            Some(service.raw().status().as_u16()),
            service.err().retryable_error_kind(),
        ),
        _ => ErrorClass::Retryable,
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
    fn codes_statuses_and_kinds() {
        use ErrorClass::*;
        type Case = (
            Option<&'static str>,
            Option<u16>,
            Option<ErrorKind>,
            ErrorClass,
        );
        let cases: &[Case] = &[
            (Some("ThrottlingException"), Some(400), None, Retryable),
            (Some("ThrottledException"), Some(400), None, Retryable),
            (Some("LimitExceededException"), Some(400), None, Retryable),
            (Some("SlowDown"), Some(503), None, Retryable),
            (Some("RequestTimeout"), Some(400), None, Retryable),
            (Some("KMSThrottling"), Some(400), None, Retryable),
            (Some("KMSThrottlingException"), Some(400), None, Retryable),
            (
                Some("AWS.SimpleQueueService.KmsThrottled"),
                Some(400),
                None,
                Retryable,
            ),
            (Some("InternalServiceException"), Some(500), None, Retryable),
            (Some("InternalError"), Some(500), None, Retryable),
            (
                Some("ServiceUnavailableException"),
                Some(503),
                None,
                Retryable,
            ),
            (Some("SomethingNew"), Some(429), None, Retryable),
            (None, Some(502), None, Retryable),
            (None, Some(408), None, Retryable),
            (
                Some("Modelled"),
                Some(400),
                Some(ErrorKind::ThrottlingError),
                Retryable,
            ),
            (None, None, None, Retryable),
            (Some("ResourceNotFoundException"), Some(400), None, NotFound),
            (None, Some(404), None, NotFound),
            (Some("AccessDeniedException"), Some(403), None, Permanent),
            (Some("InvalidRequestException"), Some(400), None, Permanent),
            (
                Some("InvalidParameterValueException"),
                Some(400),
                None,
                Permanent,
            ),
            (None, Some(403), None, Permanent),
        ];
        for (code, status, kind, expected) in cases {
            assert_eq!(
                classify_response(*code, *status, *kind),
                *expected,
                "{code:?} {status:?} {kind:?}"
            );
        }
    }
}
