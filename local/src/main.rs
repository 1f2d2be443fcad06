//! `cargo run --release -p chat-local`: the whole service on this machine.

use std::path::PathBuf;
use std::time::Duration;

use chat_local::{Stack, StackOptions};
use chat_shared::auth;
use chat_shared::ids::UserId;
use chat_shared::Config;
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Run the chat backend locally, with embedded emulators")]
struct Args {
    /// Keep nothing: an in-memory store, gone at exit.
    #[arg(long)]
    memory: bool,
    /// Where the store is persisted.
    #[arg(long, default_value = ".chat-data", env = "CHAT_DATA_DIR")]
    data_dir: PathBuf,
    /// REST API port on 127.0.0.1.
    #[arg(long, default_value_t = 3000, env = "CHAT_PORT")]
    port: u16,
    /// DynamoDB emulator port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8000, env = "CHAT_DYNAMODB_PORT")]
    dynamodb_port: u16,
    /// WebSocket gateway port on 127.0.0.1 (connect to ws://127.0.0.1:PORT/?api_key=..&token=..).
    #[arg(long, default_value_t = 3001, env = "CHAT_WS_PORT")]
    ws_port: u16,
    /// S3 server port on 127.0.0.1.
    #[arg(long, default_value_t = 9000, env = "CHAT_S3_PORT")]
    s3_port: u16,
    /// Seconds between TTL sweeps of the emulator.
    #[arg(long, default_value_t = 30)]
    ttl_sweep_seconds: u64,
    /// The faithful mode: run each function's own binary (from this folder;
    /// default: beside this binary) behind an API Gateway emulator routed by
    /// template.yaml. Build them first, e.g.
    /// `cargo build --release -p users -p channels -p messages -p uploads -p realtime`.
    #[arg(long, num_args = 0..=1, value_name = "BIN_DIR")]
    lambdas: Option<Option<PathBuf>>,
    /// The API Gateway emulator's share of the account's request quota:
    /// management-API calls a second (AWS's default 10,000)...
    #[arg(long, default_value_t = 10_000, env = "CHAT_GATEWAY_MANAGEMENT_RPS")]
    management_rps: u32,
    /// ...and their burst (AWS's default 5,000).
    #[arg(long, default_value_t = 5_000, env = "CHAT_GATEWAY_MANAGEMENT_BURST")]
    management_burst: u32,
    /// New WebSocket connections a second (AWS's default 500).
    #[arg(long, default_value_t = 500, env = "CHAT_GATEWAY_CONNECT_RPS")]
    connect_rps: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    chat_shared::outbound::install_tls_provider();
    chat_shared::telemetry::init();
    let args = Args::parse();
    // The same `CHAT_*` variables the functions read (the endpoints are the stack's own).
    let config = Config::from_env()?;
    let table = config.table_name.clone();
    let bucket = config.uploads_bucket.clone();
    let stack = Stack::start(StackOptions {
        data_dir: (!args.memory).then(|| args.data_dir.clone()),
        port: args.port,
        dynamodb_port: args.dynamodb_port,
        config,
        ttl_sweep_every: Duration::from_secs(args.ttl_sweep_seconds.max(1)),
        ws_port: args.ws_port,
        s3_port: args.s3_port,
        gateway: chat_local::gateway::GatewayOptions {
            management_quota: chat_local::gateway::Quota {
                per_second: args.management_rps,
                burst: args.management_burst,
            },
            connect_quota: chat_local::gateway::Quota {
                per_second: args.connect_rps,
                burst: args.connect_rps,
            },
            ..chat_local::gateway::GatewayOptions::default()
        },
        lambdas: match args.lambdas {
            Some(dir) => Some(chat_local::lambdas::LambdaOptions::new(match dir {
                Some(dir) => dir,
                None => std::env::current_exe()?
                    .parent()
                    .map(PathBuf::from)
                    .unwrap_or_default(),
            })),
            None => None,
        },
        ..StackOptions::ephemeral()
    })
    .await?;
    let app = stack.ensure_dev_app().await?;
    let server_token = auth::mint_server_token(&app.api_secret, None)?;
    let alice = auth::mint_user_token(&app.api_secret, &UserId::parse("alice")?, None)?;
    let bob = auth::mint_user_token(&app.api_secret, &UserId::parse("bob")?, None)?;
    let store = if args.memory {
        "memory (nothing is kept)".to_string()
    } else {
        args.data_dir.join("chat.sqlite").display().to_string()
    };
    println!(
        "chat backend running\n\
         \n  REST API        {rest}\n  WebSocket       {ws}/?api_key=...&token=...\n  DynamoDB        {dynamo} (table {table})\n  S3              {s3} (bucket {bucket})\n  store           {store}\n  sample page     {sample} (send it in a message: a link preview follows)\n\
         \n  app id          {app_id}\n  api key         {key}\n  api secret      {secret}\n\
         \n  server token    {server_token}\n  alice token     {alice}\n  bob token       {bob}\n\
         \ntry:\n  curl -s {rest}/users/alice -H 'X-Api-Key: {key}' -H 'Authorization: Bearer {alice}'\n",
        rest = stack.rest_url,
        ws = stack.ws_url,
        dynamo = stack.dynamodb_url,
        s3 = stack.s3_url,
        sample = stack.sample_page,
        app_id = app.app_id,
        key = app.api_key,
        secret = app.api_secret,
    );
    // The same values as shell variables, so the README's curl lines work as written.
    std::fs::create_dir_all(&args.data_dir)?;
    let env_file = args.data_dir.join("dev.env");
    std::fs::write(
        &env_file,
        format!(
            "CHAT_URL={rest}\nCHAT_WS_URL={ws}\nCHAT_API_KEY={key}\nCHAT_API_SECRET={secret}\n\
             CHAT_SERVER_TOKEN={server_token}\nCHAT_ALICE_TOKEN={alice}\nCHAT_BOB_TOKEN={bob}\n\
             CHAT_DYNAMODB_ENDPOINT={dynamo}\n",
            rest = stack.rest_url,
            ws = stack.ws_url,
            key = app.api_key,
            secret = app.api_secret,
            dynamo = stack.dynamodb_url,
        ),
    )?;
    println!("  (also written to {} for `source`)", env_file.display());
    tokio::signal::ctrl_c().await?;
    stack.stop();
    // Let in-flight requests and the emulator finish cleanly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}
