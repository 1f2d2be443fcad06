//! What the emulators read from `template.yaml`: each REST route's function
//! (matched as API Gateway picks among resources), the binary media types,
//! the stage, and which functions consume the outbox's stream and the
//! schedule queue.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::LambdaError;

/// One REST route of the template: `Path` (with `{name}` and `{proxy+}`),
/// `Method` (or `ANY`), and the function it invokes.
#[derive(Clone, Debug)]
pub(super) struct Route {
    pub(super) path: String,
    pub(super) method: String,
    pub(super) function: String,
}

/// What the emulator reads from `template.yaml`.
#[derive(Clone, Debug)]
pub struct Template {
    pub(super) routes: Vec<Route>,
    /// `multipart/form-data`, `image/*`, `*/*`, ...
    pub(super) binary_media_types: Vec<String>,
    pub(super) stage: String,
    /// Logical id → binary name and what it is given.
    pub(super) functions: HashMap<String, (String, Gets)>,
    /// The function the WebSocket API's integration invokes.
    pub(super) realtime: Option<String>,
    /// The function of the WebSocket API's REQUEST authorizer.
    pub(super) authorizer: Option<String>,
    /// The `$default` route is two-way: it has a route response (and a
    /// response selection expression), so API Gateway sends the function's
    /// answer back on the socket.
    pub(super) two_way: bool,
    /// The functions the outbox stream feeds (events of `Type: DynamoDB`),
    /// each with the key prefixes its filters let through.
    pub(super) stream_consumers: Vec<(String, Vec<String>)>,
    /// The functions the scheduler's queue feeds (events of `Type: SQS`).
    pub(super) queue_consumers: Vec<String>,
    /// Plain `AWS_LAMBDA_*` and `RUST_LOG` values of `Globals.Function`.
    pub(super) globals: Vec<(String, String)>,
}

/// What the template gives a function beyond the table.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Gets {
    /// The management API (`CHAT_WEBSOCKET_ENDPOINT`).
    pub(super) management: bool,
    /// The scheduler's queue (`CHAT_SCHEDULE_QUEUE_URL`).
    pub(super) queue: bool,
}

/// The function a Lambda integration's URI invokes:
/// `...functions/${RealtimeFunction.Arn}/invocations`.
fn invoked(uri: &serde_yaml_ng::Value) -> Option<String> {
    let uri = tagged_text(uri)?;
    let end = uri.find(".Arn}")?;
    let start = uri[..end].rfind("${")? + 2;
    Some(uri[start..end].to_string())
}

/// The `prefix` of each of a stream event's filters on `dynamodb.Keys.pk`.
fn stream_prefixes(properties: &serde_yaml_ng::Value) -> Option<Vec<String>> {
    properties["FilterCriteria"]["Filters"]
        .as_sequence()?
        .iter()
        .map(|filter| {
            let pattern: serde_json::Value =
                serde_json::from_str(filter["Pattern"].as_str()?).ok()?;
            pattern["dynamodb"]["Keys"]["pk"]["S"][0]["prefix"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

impl Template {
    pub fn read(path: &Path) -> Result<Self, LambdaError> {
        let bad = |why: String| LambdaError::Template(path.to_path_buf(), why);
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let resources = doc["Resources"]
            .as_mapping()
            .ok_or_else(|| bad("no Resources".into()))?;
        let mut routes = Vec::new();
        let mut functions = HashMap::new();
        let mut realtime = None;
        let mut authorizer = None;
        // Routes on `$default` that select a response, and the routes
        // (`RouteId: !Ref ...`) that have a `$default` route response.
        let mut selecting = Vec::new();
        let mut responding = Vec::new();
        let mut stream_consumers = Vec::new();
        let mut queue_consumers = Vec::new();
        for (name, resource) in resources {
            let Some(name) = name.as_str() else { continue };
            match resource["Type"].as_str() {
                Some("AWS::Serverless::Function") => {
                    let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                        .as_str()
                        .ok_or_else(|| bad(format!("{name} names no Binary")))?;
                    let vars = &resource["Properties"]["Environment"]["Variables"];
                    let gets = Gets {
                        management: !vars["CHAT_WEBSOCKET_ENDPOINT"].is_null(),
                        queue: !vars["CHAT_SCHEDULE_QUEUE_URL"].is_null(),
                    };
                    functions.insert(name.to_string(), (binary.to_string(), gets));
                    for (_, event) in resource["Properties"]["Events"]
                        .as_mapping()
                        .into_iter()
                        .flatten()
                    {
                        if event["Type"].as_str() == Some("DynamoDB") {
                            let prefixes =
                                stream_prefixes(&event["Properties"]).ok_or_else(|| {
                                    bad(format!("{name}'s stream has no key-prefix filter"))
                                })?;
                            stream_consumers.push((name.to_string(), prefixes));
                        }
                        if event["Type"].as_str() == Some("SQS") {
                            queue_consumers.push(name.to_string());
                        }
                        if event["Type"].as_str() != Some("Api") {
                            continue;
                        }
                        let props = &event["Properties"];
                        if let (Some(path), Some(method)) =
                            (props["Path"].as_str(), props["Method"].as_str())
                        {
                            routes.push(Route {
                                path: path.to_string(),
                                method: method.to_ascii_uppercase(),
                                function: name.to_string(),
                            });
                        }
                    }
                }
                Some("AWS::ApiGatewayV2::Integration") => {
                    realtime = invoked(&resource["Properties"]["IntegrationUri"]);
                }
                Some("AWS::ApiGatewayV2::Authorizer") => {
                    authorizer = invoked(&resource["Properties"]["AuthorizerUri"]);
                }
                Some("AWS::ApiGatewayV2::Route") => {
                    let props = &resource["Properties"];
                    if props["RouteKey"].as_str() == Some("$default")
                        && props["RouteResponseSelectionExpression"].is_string()
                    {
                        selecting.push(name.to_string());
                    }
                }
                Some("AWS::ApiGatewayV2::RouteResponse") => {
                    let props = &resource["Properties"];
                    if props["RouteResponseKey"].as_str() == Some("$default") {
                        responding.extend(tagged_text(&props["RouteId"]));
                    }
                }
                _ => {}
            }
        }
        let binary_media_types = resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Api"))
            .flat_map(|(_, r)| {
                r["Properties"]["BinaryMediaTypes"]
                    .as_sequence()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|t| t.as_str().map(|t| t.replace("~1", "/")))
            .collect();
        let stage = doc["Parameters"]["StageName"]["Default"]
            .as_str()
            .unwrap_or("prod")
            .to_string();
        let globals = doc["Globals"]["Function"]["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
            .filter(|(k, _)| k.starts_with("AWS_LAMBDA_") || k == "RUST_LOG")
            .collect();
        Ok(Self {
            routes,
            binary_media_types,
            stage,
            functions,
            realtime,
            authorizer,
            two_way: selecting.iter().any(|route| responding.contains(route)),
            stream_consumers,
            queue_consumers,
            globals,
        })
    }

    /// Every function binary the template declares, sorted.
    pub fn binaries(&self) -> Vec<String> {
        let mut names: Vec<String> = self.functions.values().map(|(b, _)| b.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The route API Gateway would pick: first the most specific resource
    /// whose path matches (literal segments beat `{param}`, which beats
    /// `{proxy+}`), then that resource's method, or `ANY`. A resource without
    /// the method is no match, even if a less specific one has it.
    pub(super) fn route(&self, method: &str, path: &str) -> Option<(&Route, Map<String, Value>)> {
        let (_, best, params) = self
            .routes
            .iter()
            .filter_map(|r| matches(&r.path, path).map(|(rank, params)| (rank, r, params)))
            .max_by_key(|(rank, _, _)| rank.clone())?;
        let resource = &best.path;
        let chosen = self
            .routes
            .iter()
            .filter(|r| &r.path == resource)
            .filter(|r| r.method == "ANY" || r.method == method)
            .max_by_key(|r| r.method != "ANY")?;
        Some((chosen, params))
    }

    pub(super) fn is_binary(&self, content_type: &str) -> bool {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        self.binary_media_types.iter().any(|declared| {
            declared == "*/*"
                || declared == media
                || declared
                    .strip_suffix("/*")
                    .is_some_and(|family| media.split('/').next() == Some(family))
        })
    }
}

/// A `!Sub` or plain string value.
fn tagged_text(value: &serde_yaml_ng::Value) -> Option<String> {
    match value {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Tagged(tagged) => tagged.value.as_str().map(str::to_string),
        _ => None,
    }
}

/// Whether `path` fits the resource `pattern`; a rank (literal segments per
/// position, higher is more specific) and the path parameters.
pub(super) fn matches(pattern: &str, path: &str) -> Option<(Vec<u8>, Map<String, Value>)> {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut rank = Vec::new();
    let mut params = Map::new();
    for (i, part) in pattern.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            let rest = segments.get(i..).filter(|r| !r.is_empty())?;
            params.insert(name.to_string(), json!(rest.join("/")));
            rank.push(0);
            return Some((rank, params));
        }
        let segment = segments.get(i)?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            params.insert(name.to_string(), json!(segment));
            rank.push(1);
        } else if part == segment {
            rank.push(2);
        } else {
            return None;
        }
    }
    (pattern.len() == segments.len()).then_some((rank, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn routes_match_as_api_gateway_picks_them() {
        let (rank, params) =
            matches("/api/v1/users/{proxy+}", "/api/v1/users/alice/token").unwrap();
        assert_eq!(params["proxy"], "alice/token");
        assert_eq!(rank, vec![2, 2, 2, 0]);
        assert!(matches("/api/v1/users", "/api/v1/users/alice").is_none());
        assert!(matches("/api/v1/users/{proxy+}", "/api/v1/users").is_none());
        let (_, params) = matches(
            "/api/v1/channels/{id}/messages",
            "/api/v1/channels/c1/messages",
        )
        .unwrap();
        assert_eq!(params["id"], "c1");
    }

    #[test]
    pub(super) fn the_repositorys_template_routes_every_group() {
        let template =
            Template::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
                .unwrap();
        let to = |method: &str, path: &str| {
            template
                .route(method, path)
                .map(|(r, _)| r.function.clone())
        };
        assert_eq!(
            to("GET", "/api/v1/users/alice").as_deref(),
            Some("UsersFunction")
        );
        assert_eq!(
            to("POST", "/api/v1/messages").as_deref(),
            Some("MessagesFunction")
        );
        assert_eq!(
            to("GET", "/api/v1/channels/c1/messages").as_deref(),
            Some("MessagesFunction")
        );
        assert_eq!(
            to("POST", "/api/v1/channels/c1/members").as_deref(),
            Some("ChannelsFunction")
        );
        assert_eq!(
            to("POST", "/api/v1/upload").as_deref(),
            Some("UploadsFunction")
        );
        // Unknown paths reach the users function's JSON 404 (`/{proxy+}`)...
        assert_eq!(to("GET", "/nowhere").as_deref(), Some("UsersFunction"));
        // ...but a resource without the method is API Gateway's 403, even
        // though a less specific resource takes every method.
        assert_eq!(to("POST", "/api/v1/openapi.json"), None);
        assert!(template.is_binary("multipart/form-data; boundary=x"));
        assert!(!template.is_binary("application/json"));
        assert_eq!(template.realtime.as_deref(), Some("RealtimeFunction"));
        assert_eq!(template.authorizer.as_deref(), Some("RealtimeFunction"));
        assert!(template.two_way);
        assert_eq!(
            template.stream_consumers,
            [
                ("FanoutFunction".to_string(), vec!["FANOUT#".to_string()]),
                (
                    "NotifyFunction".to_string(),
                    vec!["WEBHOOK#".to_string(), "PUSH#".to_string()]
                ),
                ("EraseFunction".to_string(), vec!["ERASE#".to_string()])
            ]
        );
        assert_eq!(template.queue_consumers, ["NotifyFunction"]);
        assert!(template.functions["NotifyFunction"].1.queue);
        assert!(!template.functions["EraseFunction"].1.queue);
        assert_eq!(template.stage, "prod");
    }

    #[test]
    fn a_default_route_is_two_way_only_with_its_route_response() {
        let route = "
  DefaultRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      RouteKey: $default
      RouteResponseSelectionExpression: $default
";
        let response = "
  DefaultRouteResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      RouteId: !Ref DefaultRoute
      RouteResponseKey: $default
";
        let read = |resources: &str| {
            let path = std::env::temp_dir().join(format!(
                "chat-template-{}-{}.yaml",
                std::process::id(),
                resources.len()
            ));
            std::fs::write(&path, format!("Resources:{resources}")).unwrap();
            let two_way = Template::read(&path).unwrap().two_way;
            let _ = std::fs::remove_file(&path);
            two_way
        };
        assert!(read(&format!("{route}{response}")));
        assert!(!read(route), "no route response: one-way");
        let unselected = route.replace("      RouteResponseSelectionExpression: $default\n", "");
        assert!(!read(&format!("{unselected}{response}")));
    }
}
