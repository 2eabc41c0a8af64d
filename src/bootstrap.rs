//! First start: the one-step quick start (the first institution and its
//! admin, when `ELDERCARE_ADMIN_EMAIL` / `ELDERCARE_ADMIN_PASSWORD` are set and
//! no institution exists) and the platform operator (when
//! `ELDERCARE_OPERATOR_EMAIL` / `ELDERCARE_OPERATOR_PASSWORD` are set and there
//! is none).

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::users::{NewUser, insert_user};
use crate::config::BootstrapSettings;
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
