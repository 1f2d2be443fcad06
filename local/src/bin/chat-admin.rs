//! `chat-admin`: create applications, change their settings and mint tokens
//! in a table, local or AWS.
//!
//! Against AWS it uses the ordinary credential chain and region
//! (`AWS_PROFILE`, `AWS_REGION`, ...); against the local stack pass
//! `--endpoint http://127.0.0.1:8000 --local`.

use chat_shared::apps;
use chat_shared::auth;
use chat_shared::ids::{AppId, UserId};
use chat_shared::{AppState, Config};
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Administer chat applications")]
struct Args {
    /// The table (CHAT_TABLE_NAME; the SAM stack prints it as an output).
    #[arg(long, env = "CHAT_TABLE_NAME", default_value = "chat", global = true)]
    table: String,
    /// DynamoDB endpoint, for the local stack (default: AWS).
    #[arg(long, env = "CHAT_DYNAMODB_ENDPOINT", global = true)]
    endpoint: Option<String>,
    /// AWS region (default: the SDK's resolution, e.g. AWS_REGION).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Use dummy credentials and us-east-1: for the local emulator.
    #[arg(long, global = true)]
    local: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table if it does not exist (SAM creates it on AWS).
    CreateTable,
    /// Create an application; prints its id, API key, secret and a server token.
    CreateApp {
        #[arg(long)]
        name: String,
        /// A chosen id (default: generated).
        #[arg(long)]
        app_id: Option<String>,
    },
    /// Show an application's settings, or change them with `--patch`: the
    /// body of `PATCH /app` (`{"set": {...}, "unset": [...]}`).
    Settings {
        #[arg(long)]
        app_id: String,
        #[arg(long)]
        patch: Option<String>,
    },
    /// Mint a token for an existing application.
    Token {
        #[arg(long)]
        app_id: String,
        /// A user token for this user id...
        #[arg(long, conflicts_with = "server", required_unless_present = "server")]
        user: Option<String>,
        /// ...or a server token.
        #[arg(long)]
        server: bool,
        /// Seconds until expiry (default: none).
        #[arg(long)]
        expires_in: Option<i64>,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    chat_shared::outbound::install_tls_provider();
    let args = Args::parse();
    let config = Config {
        table_name: args.table,
        dynamodb_endpoint: args.endpoint,
        region: args
            .region
            .or_else(|| args.local.then(|| "us-east-1".to_string())),
        static_credentials: args.local,
        ..Config::default()
    };
    let state = AppState::connect(config).await;
    let output = match args.command {
        Command::CreateTable => {
            state.db.create_table_if_missing().await?;
            json!({ "table": state.db.table_name(), "ready": true })
        }
        Command::CreateApp { name, app_id } => {
            let app_id = app_id.map(AppId::parse).transpose()?;
            let app = apps::create_app(&state.db, app_id, &name).await?;
            json!({
                "app_id": app.app_id,
                "name": app.name,
                "api_key": app.api_key,
                "api_secret": app.api_secret,
                "server_token": auth::mint_server_token(&app.api_secret, None)?,
            })
        }
        Command::Settings { app_id, patch } => {
            let app_id = AppId::parse(app_id)?;
            let app = match patch {
                Some(body) => {
                    let patch: apps::AppPatch = serde_json::from_str(&body)?;
                    apps::patch(&state.db, &app_id, patch, state.outbound.guard()).await?
                }
                None => apps::get_app(&state.db, &app_id)
                    .await?
                    .ok_or_else(|| format!("no application {app_id} in this table"))?,
            };
            serde_json::to_value(app.view())?
        }
        Command::Token {
            app_id,
            user,
            server: _,
            expires_in,
        } => {
            let app_id = AppId::parse(app_id)?;
            let app = apps::get_app(&state.db, &app_id)
                .await?
                .ok_or_else(|| format!("no application {app_id} in this table"))?;
            let token = match user {
                Some(user) => {
                    auth::mint_user_token(&app.api_secret, &UserId::parse(user)?, expires_in)?
                }
                None => auth::mint_server_token(&app.api_secret, expires_in)?,
            };
            json!({ "app_id": app.app_id, "api_key": app.api_key, "token": token })
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
