//! The API Gateway REST emulator: a request becomes the proxy event API
//! Gateway would build, goes to the function the template routes it to,
//! and the function's answer becomes the HTTP response.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::{Functions, Route, MAX_EVENT, MAX_REQUEST};

impl Functions {
    /// The API Gateway REST emulator: every request, routed by the template.
    pub fn rest_service(self: &Arc<Self>) -> Router {
        Router::new()
            .fallback(proxy)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST))
            .with_state(self.clone())
    }

    /// The REST API proxy event API Gateway would build for this request.
    fn event(&self, route: &Route, params: Map<String, Value>, request: &RestRequest) -> Value {
        let mut single = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (name, value) in &request.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            single.insert(name.to_string(), json!(value));
            match multi.get_mut(name.as_str()) {
                Some(Value::Array(values)) => values.push(json!(value)),
                _ => {
                    multi.insert(name.to_string(), json!([value]));
                }
            }
        }
        let query: Vec<(String, String)> = request
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let mut query_single = Map::new();
        let mut query_multi: Map<String, Value> = Map::new();
        for (name, value) in &query {
            query_single.insert(name.clone(), json!(value));
            match query_multi.get_mut(name) {
                Some(Value::Array(values)) => values.push(json!(value)),
                _ => {
                    query_multi.insert(name.clone(), json!([value]));
                }
            }
        }
        let content_type = request
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let binary = self.template.is_binary(content_type);
        let body = if request.body.is_empty() {
            Value::Null
        } else if binary {
            json!(base64::engine::general_purpose::STANDARD.encode(&request.body))
        } else {
            // Not a binary media type: the body travels as text, so bytes that
            // are not UTF-8 are lost, exactly as on API Gateway.
            json!(String::from_utf8_lossy(&request.body))
        };
        let path = request.uri.path();
        let optional = |m: Map<String, Value>| {
            if m.is_empty() {
                Value::Null
            } else {
                Value::Object(m)
            }
        };
        json!({
            "resource": route.path,
            "path": path,
            "httpMethod": request.method.as_str(),
            "headers": single,
            "multiValueHeaders": multi,
            "queryStringParameters": optional(query_single),
            "multiValueQueryStringParameters": optional(query_multi),
            "pathParameters": optional(params),
            "stageVariables": null,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": request.method.as_str(),
                "path": format!("/{}{path}", self.template.stage),
                "stage": self.template.stage,
                "accountId": "123456789012",
                "apiId": "local",
                "requestId": uuid::Uuid::new_v4().to_string(),
                "identity": { "sourceIp": "127.0.0.1" },
                "protocol": "HTTP/1.1",
                "requestTimeEpoch": chat_shared::time::now_millis(),
            },
            "body": body,
            "isBase64Encoded": binary && !request.body.is_empty(),
        })
    }
}

pub(super) struct RestRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// One REST request through the template's routing to its function.
pub(super) async fn proxy(
    State(functions): State<Arc<Functions>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RestRequest {
        method,
        uri,
        headers,
        body,
    };
    let Some((route, params)) = functions
        .template
        .route(request.method.as_str(), request.uri.path())
    else {
        // What API Gateway answers for a path and method no resource has.
        return (
            StatusCode::FORBIDDEN,
            [("x-amzn-errortype", "MissingAuthenticationTokenException")],
            axum::Json(json!({ "message": "Missing Authentication Token" })),
        )
            .into_response();
    };
    let Some(function) = functions.by_name.get(&route.function) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "no such function");
    };
    let event = functions.event(route, params, &request);
    if event.to_string().len() > MAX_EVENT {
        return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long");
    }
    match function.invoke(event).await {
        Ok(answer) => to_response(&answer),
        Err(err) => {
            tracing::warn!(function = %route.function, error = %err, "invocation failed");
            gateway_error(StatusCode::BAD_GATEWAY, "Internal server error")
        }
    }
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// The function's proxy response as the HTTP response API Gateway sends.
pub fn to_response(answer: &Value) -> Response {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let text = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, values) in answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for value in values.as_array().into_iter().flatten() {
            if let (Ok(name), Some(Ok(value))) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.append(name, value);
            }
        }
    }
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
    }
    response
}
