//! The local S3 server: `s3s` over a folder (`s3s-fs`), SigV4 checked with
//! the same dummy credentials the SDK clients use, so presigned URLs made by
//! the real SDK work (and tampered, expired or mismatched ones are refused).
//! CORS is open, like the deployed bucket's rules, for browser uploads.
//! Every answer carries `X-Content-Type-Options: nosniff`, as a CDN in front
//! of the deployed bucket should add (S3 itself cannot).

use std::future::Future;
use std::path::Path;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

/// Serves S3 over `root` on `listener` until `stop` resolves.
pub fn serve(
    root: &Path,
    listener: TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single("local", "local"));
    // Browsers upload with the presigned PUT from another origin (the web
    // client on the REST port), as the deployed bucket's CORS rules allow.
    let service = TowerToHyperService::new(
        tower::ServiceBuilder::new()
            .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            ))
            .layer(
                tower_http::cors::CorsLayer::new()
                    .allow_origin(tower_http::cors::Any)
                    .allow_methods([
                        axum::http::Method::GET,
                        axum::http::Method::PUT,
                        axum::http::Method::HEAD,
                    ])
                    .allow_headers(tower_http::cors::Any)
                    .expose_headers([axum::http::header::ETAG]),
            )
            .service(builder.build()),
    );
    crate::accept::serve(listener, "S3", stop, move |stream| {
        let service = service.clone();
        async move {
            let connection = Builder::new(TokioExecutor::new());
            if let Err(err) = connection
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "S3 connection ended");
            }
        }
    });
    Ok(())
}
