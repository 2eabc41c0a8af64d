//! First start: the one-step quick start (the first institution and its
//! admin, when `ELDERCARE_ADMIN_EMAIL` / `ELDERCARE_ADMIN_PASSWORD` are set and
//! no institution exists) and the platform operator (when
//! `ELDERCARE_OPERATOR_EMAIL` / `ELDERCARE_OPERATOR_PASSWORD` are set and there
//! is none); and, at every start with a sealing key, the sealing of secrets
//! older versions stored in clear.

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::users::{NewUser, insert_user};
use crate::config::{BootstrapSettings, WebhookSettings};
use crate::domain::keys::SealingKey;
use crate::domain::{InstitutionKind, Role};

/// Serialises bootstrap across `serve` processes starting together.
const BOOTSTRAP_LOCK: i64 = 0x656c_6465_7201;

pub async fn run(pool: &PgPool, settings: &BootstrapSettings) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)").bind(BOOTSTRAP_LOCK).execute(&mut *tx).await?;
    if let Some((email, password)) = credentials(&settings.admin_email, &settings.admin_password) {
        let any: bool = sqlx::query_scalar("select exists (select 1 from institutions)").fetch_one(&mut *tx).await?;
        if !any {
            let institution = Uuid::new_v4();
            sqlx::query("insert into institutions (id, name, kind, timezone) values ($1, $2, $3, $4)")
                .bind(institution)
                .bind(&settings.institution_name)
                .bind(InstitutionKind::CareHome)
                .bind(&settings.institution_timezone)
                .execute(&mut *tx)
                .await?;
            let admin =
                NewUser { email, password, role: Role::Admin, name: "Administrator".to_owned(), kitchen_id: None };
            let id = insert_user(&mut tx, Some(institution), None, admin)
                .await
                .map_err(|err| anyhow::anyhow!("creating the first administrator: {err}"))?;
            tracing::info!(institution_id = %institution, user_id = %id, "created the first institution and its administrator");
        }
    }
    if let Some((email, password)) = credentials(&settings.operator_email, &settings.operator_password) {
        let any: bool = sqlx::query_scalar("select exists (select 1 from users where role = 'operator')")
            .fetch_one(&mut *tx)
            .await?;
        if !any {
            let operator = NewUser {
                email,
                password,
                role: Role::Operator,
                name: "Platform operator".to_owned(),
                kitchen_id: None,
            };
            let id = insert_user(&mut tx, None, None, operator)
                .await
                .map_err(|err| anyhow::anyhow!("creating the platform operator: {err}"))?;
            tracing::info!(user_id = %id, "created the platform operator");
        }
    }
    tx.commit().await?;
    Ok(())
}

fn credentials(email: &Option<String>, password: &Option<SecretString>) -> Option<(String, String)> {
    Some((email.clone()?, password.as_ref()?.expose_secret().to_owned()))
}

/// A kind of secret kept sealed at rest: where it is, and the key for it.
struct Kept {
    what: &'static str,
    table: &'static str,
    id: &'static str,
    secret: &'static str,
    sealed: &'static str,
    key: Option<SealingKey>,
}

/// Seals the key safe codes, SMS and voice gateways' secrets and webhook
/// secrets that older versions stored in clear, each with its own purpose's
/// key and bound to its row, as they are stored now; SQL cannot seal, so a
/// migration could not. Runs at every start and finds nothing once done; the
/// rows are locked, so processes starting together seal each once. Without
/// a key nothing can be sealed: a warning says what is still in clear.
/// Answers how many secrets it sealed.
pub async fn seal_plaintext(pool: &PgPool, settings: &WebhookSettings) -> anyhow::Result<u64> {
    let kinds = [
        Kept {
            what: "key safe codes",
            table: "responder_info",
            id: "resident_id",
            secret: "key_safe_code",
            sealed: "key_safe_sealed",
            key: crate::store::responder::sealing_key(settings),
        },
        Kept {
            what: "channel secrets",
            table: "notification_channels",
            id: "id",
            secret: "secret",
            sealed: "secret_sealed",
            key: crate::store::notify::channel_sealing_key(settings),
        },
        Kept {
            what: "webhook secrets",
            table: "webhooks",
            id: "id",
            secret: "secret",
            sealed: "secret_sealed",
            key: crate::store::webhooks::sealing_key(settings),
        },
    ];
    let mut total = 0;
    for kind in kinds {
        let Kept { what, table, id, secret, sealed, key } = kind;
        let mut tx = pool.begin().await?;
        let plain: Vec<(Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {id}, {secret} from {table} where {secret} is not null and not {sealed} for update"
        )))
        .fetch_all(&mut *tx)
        .await?;
        if plain.is_empty() {
            continue;
        }
        let Some(key) = key else {
            tracing::warn!(
                count = plain.len(),
                "{what} are stored in clear: set ELDERCARE__WEBHOOKS__SECRET_KEY to seal them"
            );
            continue;
        };
        for (row, value) in &plain {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "update {table} set {secret} = $2, {sealed} = true where {id} = $1"
            )))
            .bind(row)
            .bind(key.seal(value, row.as_bytes()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(count = plain.len(), "sealed {what} stored in clear by an older version");
        total += plain.len() as u64;
    }
    Ok(total)
}
