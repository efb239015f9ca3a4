// Shared by tests and benches through `#[path]`; each uses a different subset.
#![allow(dead_code)]

//! A local stand-in for the Lambda Runtime API (shared by tests and benches via `#[path]`), enough to run the real `bootstrap` binary:
//! `GET …/invocation/next` (long-polls until an event is queued), `POST …/response`,
//! `POST …/error` and `POST …/init/error`. It records when the runtime first polled, which is
//! the end of the function's cold start.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub is_error: bool,
    pub body: Value,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Value, u64)>,
    done: HashMap<String, Completion>,
    first_poll: Option<Instant>,
    init_error: Option<Value>,
    next_id: u64,
}

#[derive(Clone)]
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    queued: Arc<Notify>,
    completed: Arc<Notify>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let api = Self {
            addr: listener.local_addr()?,
            state: Arc::default(),
            queued: Arc::new(Notify::new()),
            completed: Arc::new(Notify::new()),
        };
        let server = api.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.route(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(api)
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event with `timeout` until its deadline; returns its request id.
    pub fn invoke(&self, event: Value, timeout: Duration) -> String {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = format!("emulated-{}", s.next_id);
        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + timeout;
        s.queue
            .push_back((id.clone(), event, deadline.as_millis() as u64));
        drop(s);
        self.queued.notify_waiters();
        self.queued.notify_one();
        id
    }

    pub async fn completion(&self, id: &str, timeout: Duration) -> Option<Completion> {
        let until = Instant::now() + timeout;
        loop {
            let notified = self.completed.notified();
            if let Some(c) = self.state.lock().unwrap().done.get(id) {
                return Some(c.clone());
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return None;
            }
        }
    }

    pub fn first_poll(&self) -> Option<Instant> {
        self.state.lock().unwrap().first_poll
    }

    pub fn init_error(&self) -> Option<Value> {
        self.state.lock().unwrap().init_error.clone()
    }

    async fn route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let json = || serde_json::from_slice(&body).unwrap_or(Value::Null);
        let prefix = "/2018-06-01/runtime/";
        let Some(rest) = path.strip_prefix(prefix) else {
            return reply(StatusCode::NOT_FOUND, "");
        };
        match (
            method.as_str(),
            rest.split('/').collect::<Vec<_>>().as_slice(),
        ) {
            ("GET", ["invocation", "next"]) => self.next().await,
            ("POST", ["invocation", id, kind @ ("response" | "error")]) => {
                let completion = Completion {
                    is_error: *kind == "error",
                    body: json(),
                };
                self.state
                    .lock()
                    .unwrap()
                    .done
                    .insert((*id).to_owned(), completion);
                self.completed.notify_waiters();
                reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
            }
            ("POST", ["init", "error"]) => {
                self.state.lock().unwrap().init_error = Some(json());
                self.completed.notify_waiters();
                reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
            }
            _ => reply(StatusCode::NOT_FOUND, ""),
        }
    }

    async fn next(&self) -> Response<Full<Bytes>> {
        loop {
            let notified = self.queued.notified();
            {
                let mut s = self.state.lock().unwrap();
                s.first_poll.get_or_insert_with(Instant::now);
                if let Some((id, event, deadline_ms)) = s.queue.pop_front() {
                    return Response::builder()
                        .status(StatusCode::OK)
                        .header("Lambda-Runtime-Aws-Request-Id", id)
                        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
                        .header(
                            "Lambda-Runtime-Invoked-Function-Arn",
                            "arn:aws:lambda:eu-west-1:111111111111:function:crossvault-handler",
                        )
                        .header(
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000",
                        )
                        .header("Content-Type", "application/json")
                        .body(Full::new(Bytes::from(event.to_string())))
                        .expect("valid response");
                }
            }
            notified.await;
        }
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("valid response")
}

/// The environment Lambda gives a function, pointed at `api`.
pub fn lambda_environment(api: &RuntimeApi) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", "crossvault-handler".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/crossvault-handler".into(),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/22/[$LATEST]emulated".into(),
        ),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
