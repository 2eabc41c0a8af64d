//! First start: the one-step quick start (the first institution and its
//! admin, when `ELDERCARE_ADMIN_EMAIL` / `ELDERCARE_ADMIN_PASSWORD` are set and
//! no institution exists) and the platform operator (when
//! `ELDERCARE_OPERATOR_EMAIL` / `ELDERCARE_OPERATOR_PASSWORD` are set and there
//! is none); and, at every start with a sealing key, the sealing of secrets
//! older versions stored in clear.

use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::config::{BootstrapSettings, WebhookSettings};
use crate::domain::account::{self, MIN_PASSWORD_LEN};
use crate::domain::keys::SealingKey;
use crate::domain::{InstitutionKind, Role};
use crate::store::bootstrap::{self as store, Secret};
use crate::store::users;

pub async fn run(pool: &PgPool, settings: &BootstrapSettings) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    store::lock(&mut tx).await?;
    if let Some((email, password)) = credentials(&settings.admin_email, &settings.admin_password)
        && !store::any_institution(&mut tx).await?
    {
        let institution = store::insert_institution(
            &mut tx,
            &settings.institution_name,
            InstitutionKind::CareHome,
            &settings.institution_timezone,
        )
        .await?;
        let admin = First { email, password, role: Role::Admin, name: "Administrator" };
        let id = create(&mut tx, Some(institution), admin)
            .await
            .map_err(|err| anyhow::anyhow!("creating the first administrator: {err}"))?;
        tracing::info!(institution_id = %institution, user_id = %id, "created the first institution and its administrator");
    }
    if let Some((email, password)) = credentials(&settings.operator_email, &settings.operator_password)
        && !users::operator_exists(&mut tx).await?
    {
        let operator = First { email, password, role: Role::Operator, name: "Platform operator" };
        let id = create(&mut tx, None, operator)
            .await
            .map_err(|err| anyhow::anyhow!("creating the platform operator: {err}"))?;
        tracing::info!(user_id = %id, "created the platform operator");
    }
    tx.commit().await?;
    Ok(())
}

/// An account the bootstrap creates, from the settings.
struct First {
    email: String,
    password: String,
    role: Role,
    name: &'static str,
}

/// Creates the account after the checks an admin's request passes (an email
/// address, a long enough password), with its password hashed off the async
/// workers.
async fn create(conn: &mut PgConnection, institution_id: Option<Uuid>, first: First) -> anyhow::Result<Uuid> {
    if !account::valid_email(&first.email) {
        anyhow::bail!("email must be an address like name@example.org");
    }
    if first.password.chars().count() < MIN_PASSWORD_LEN {
        anyhow::bail!("password must be at least {MIN_PASSWORD_LEN} characters");
    }
    let password = first.password;
    let hash = tokio::task::spawn_blocking(move || account::hash_password(&password))
        .await?
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    let user = users::NewUser {
        institution_id,
        region: None,
        division: None,
        email: first.email.trim(),
        name: first.name,
        role: first.role,
        password_hash: &hash,
        kitchen_id: None,
    };
    users::insert(conn, &user).await.map_err(|err| match &err {
        sqlx::Error::Database(db) if db.constraint() == Some("users_email_key") => {
            anyhow::anyhow!("a user with this email already exists")
        }
        _ => err.into(),
    })
}

fn credentials(email: &Option<String>, password: &Option<SecretString>) -> Option<(String, String)> {
    Some((email.clone()?, password.as_ref()?.expose_secret().to_owned()))
}

/// Seals the key safe codes, SMS and voice gateways' secrets and webhook
/// secrets that older versions stored in clear, each with its own purpose's
/// key and bound to its row, as they are stored now; SQL cannot seal, so a
/// migration could not. Runs at every start and finds nothing once done; the
/// rows are locked, so processes starting together seal each once. Without
/// a key nothing can be sealed: a warning says what is still in clear.
/// Answers how many secrets it sealed.
pub async fn seal_plaintext(pool: &PgPool, settings: &WebhookSettings) -> anyhow::Result<u64> {
    let mut total = 0;
    for kind in Secret::ALL {
        let what = kind.what();
        let key: Option<SealingKey> = match kind {
            Secret::KeySafeCodes => crate::store::responder::sealing_key(settings),
            Secret::ChannelSecrets => crate::store::notify::channel_sealing_key(settings),
            Secret::WebhookSecrets => crate::store::webhooks::sealing_key(settings),
        };
        let mut tx = pool.begin().await?;
        let plain = store::in_clear(&mut tx, kind).await?;
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
            store::store_sealed(&mut tx, kind, *row, &key.seal(value, row.as_bytes())).await?;
        }
        tx.commit().await?;
        tracing::info!(count = plain.len(), "sealed {what} stored in clear by an older version");
        total += plain.len() as u64;
    }
    Ok(total)
}
