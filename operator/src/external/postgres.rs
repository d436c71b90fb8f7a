//! PostgreSQL: a database and a login role per service (the role owns its database and is the
//! only non-superuser allowed to connect to it), claimed in the database's `COMMENT`.

use std::str::FromStr;

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use super::{Claim, ClaimDecision, Databases, Ensured, ExtError, ExtResult};
use crate::desired::DatabasePlan;

/// The real [`Databases`], administering one server through an admin URL.
pub struct Postgres {
    admin: PgConnectOptions,
}

impl Postgres {
    pub fn new(admin_url: &str) -> ExtResult<Self> {
        let admin = PgConnectOptions::from_str(admin_url)
            .map_err(|e| ExtError::Permanent(format!("invalid PostgreSQL admin URL: {e}")))?
            .application_name("storefront-operator");
        Ok(Self { admin })
    }

    async fn connect(&self) -> ExtResult<PgConnection> {
        self.admin.connect().await.map_err(classify)
    }
}

fn classify(e: sqlx::Error) -> ExtError {
    match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // 28xxx invalid authorisation, 42501 insufficient privilege, 42xxx syntax/names.
            Some(c) if c.starts_with("28") || c.starts_with("42") => {
                ExtError::Permanent(format!("PostgreSQL: {e}"))
            }
            _ => ExtError::Transient(format!("PostgreSQL: {e}")),
        },
        sqlx::Error::Configuration(_) => ExtError::Permanent(format!("PostgreSQL: {e}")),
        _ => ExtError::Transient(format!("PostgreSQL: {e}")),
    }
}

/// Names go into SQL as quoted identifiers; they come from the operator's own naming but are
/// checked anyway, as are passwords (letters and digits only).
fn check(plan: &DatabasePlan) -> ExtResult<()> {
    let ident = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !ident(&plan.database) || !ident(&plan.owner) {
        return Err(ExtError::Permanent(format!(
            "database `{}` / role `{}`: names may only hold letters, digits, `_` and `-`",
            plan.database, plan.owner
        )));
    }
    if plan.password.is_empty() || !plan.password.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ExtError::Permanent(format!(
            "password of role `{}` is missing or not alphanumeric",
            plan.owner
        )));
    }
    Ok(())
}

async fn exec(conn: &mut PgConnection, sql: String) -> ExtResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(classify)
}

/// `Some(comment)` when the database exists.
async fn database_comment(
    conn: &mut PgConnection,
    database: &str,
) -> ExtResult<Option<Option<String>>> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_optional(&mut *conn)
    .await
    .map_err(classify)?;
    Ok(row.map(|r| r.0))
}

async fn role_exists(conn: &mut PgConnection, role: &str) -> ExtResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(role)
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Postgres {
    async fn ensure_inner(&self, plan: &DatabasePlan, claim: &Claim) -> ExtResult<Ensured> {
        check(plan)?;
        let mut conn = self.connect().await?;
        let (db, role) = (&plan.database, &plan.owner);
        let existing = database_comment(&mut conn, db).await?;
        let outcome = match &existing {
            None => Ensured::Created,
            Some(comment) => {
                let found = comment.as_deref().and_then(Claim::decode);
                match claim.decide(found.as_ref()) {
                    ClaimDecision::Ours => Ensured::Unchanged,
                    ClaimDecision::Take => Ensured::Adopted,
                    ClaimDecision::Conflict(owner) => {
                        return Err(ExtError::Conflict {
                            resource: format!("database {db}"),
                            owner,
                        });
                    }
                }
            }
        };
        // The role: created, or its password and LOGIN reset (drift correction).
        let verb = if role_exists(&mut conn, role).await? {
            "ALTER"
        } else {
            "CREATE"
        };
        match exec(
            &mut conn,
            format!(
                "{verb} ROLE \"{role}\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}",
                quote_literal(&plan.password)
            ),
        )
        .await
        {
            // 42710 duplicate_object: another reconcile created it a moment ago.
            Err(ExtError::Permanent(m)) if m.contains("already exists") => {
                exec(
                    &mut conn,
                    format!(
                        "ALTER ROLE \"{role}\" WITH LOGIN PASSWORD {}",
                        quote_literal(&plan.password)
                    ),
                )
                .await?
            }
            other => other?,
        }
        if existing.is_none() {
            match exec(
                &mut conn,
                format!("CREATE DATABASE \"{db}\" OWNER \"{role}\""),
            )
            .await
            {
                Ok(()) => {}
                Err(ExtError::Permanent(m)) if m.contains("already exists") => {}
                Err(e) => return Err(e),
            }
        } else {
            exec(
                &mut conn,
                format!("ALTER DATABASE \"{db}\" OWNER TO \"{role}\""),
            )
            .await?;
        }
        // Only the owner (and superusers) may connect: a service reaches only its database.
        exec(
            &mut conn,
            format!("REVOKE CONNECT, TEMPORARY ON DATABASE \"{db}\" FROM PUBLIC"),
        )
        .await?;
        exec(
            &mut conn,
            format!("GRANT CONNECT, TEMPORARY ON DATABASE \"{db}\" TO \"{role}\""),
        )
        .await?;
        if outcome != Ensured::Unchanged {
            exec(
                &mut conn,
                format!(
                    "COMMENT ON DATABASE \"{db}\" IS {}",
                    quote_literal(&claim.encode())
                ),
            )
            .await?;
        }
        conn.close().await.ok();
        Ok(outcome)
    }

    /// `true` when the database is missing or ours (then it may be dropped or released).
    async fn is_ours(conn: &mut PgConnection, db: &str, claim: &Claim) -> ExtResult<Option<bool>> {
        Ok(database_comment(conn, db).await?.map(|comment| {
            comment
                .as_deref()
                .and_then(Claim::decode)
                .is_some_and(|c| c.same_owner(claim))
        }))
    }

    async fn delete_inner(&self, plan: &DatabasePlan, claim: &Claim) -> ExtResult<()> {
        let mut conn = self.connect().await?;
        match Self::is_ours(&mut conn, &plan.database, claim).await? {
            // Someone else's database (or unclaimed): never dropped on our behalf.
            Some(false) => return Ok(()),
            Some(true) => {
                exec(
                    &mut conn,
                    format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", plan.database),
                )
                .await?
            }
            None => {}
        }
        // The role goes too, unless it still owns something else.
        if role_exists(&mut conn, &plan.owner).await? {
            match exec(&mut conn, format!("DROP ROLE IF EXISTS \"{}\"", plan.owner)).await {
                Ok(()) => {}
                // 2BP01 dependent_objects_still_exist: keep it, the database is gone.
                Err(ExtError::Transient(m)) if m.contains("cannot be dropped") => {
                    tracing::warn!(role = %plan.owner, "role still owns objects; kept")
                }
                Err(e) => return Err(e),
            }
        }
        conn.close().await.ok();
        Ok(())
    }

    async fn release_inner(&self, plan: &DatabasePlan, claim: &Claim) -> ExtResult<()> {
        let mut conn = self.connect().await?;
        if Self::is_ours(&mut conn, &plan.database, claim).await? == Some(true) {
            exec(
                &mut conn,
                format!("COMMENT ON DATABASE \"{}\" IS NULL", plan.database),
            )
            .await?;
        }
        conn.close().await.ok();
        Ok(())
    }
}

impl Databases for Postgres {
    fn ensure(&self, db: &DatabasePlan, claim: &Claim) -> BoxFuture<'_, ExtResult<Ensured>> {
        let (db, claim) = (db.clone(), claim.clone());
        async move { self.ensure_inner(&db, &claim).await }.boxed()
    }
    fn delete(&self, db: &DatabasePlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        let (db, claim) = (db.clone(), claim.clone());
        async move { self.delete_inner(&db, &claim).await }.boxed()
    }
    fn release(&self, db: &DatabasePlan, claim: &Claim) -> BoxFuture<'_, ExtResult<()>> {
        let (db, claim) = (db.clone(), claim.clone());
        async move { self.release_inner(&db, &claim).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    //! Against the local PostgreSQL (127.0.0.1:5432, user postgres, trust), with unique names.
    use super::*;
    use crate::external::random_password;
    use crate::external::testing::{claim, unique};

    const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

    fn plan(db: &str) -> DatabasePlan {
        DatabasePlan {
            database: format!("{db}_db"),
            owner: format!("{db}_svc"),
            password: random_password(24),
        }
    }

    async fn connect_as(p: &DatabasePlan, database: &str) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect(&format!(
            "postgres://{}:{}@127.0.0.1:5432/{database}",
            p.owner, p.password
        ))
        .await
    }

    #[tokio::test]
    async fn create_adopt_conflict_and_delete() {
        let pg = Postgres::new(ADMIN).unwrap();
        let base = unique("sfop_");
        let p = plan(&base);
        let older = claim("older", "2026-01-01T00:00:00Z");
        let newer = claim("newer", "2026-03-01T00:00:00Z");

        assert_eq!(pg.ensure(&p, &newer).await.unwrap(), Ensured::Created);
        assert_eq!(pg.ensure(&p, &newer).await.unwrap(), Ensured::Unchanged);
        // The service's role reaches its database and can create tables in it.
        let mut c = connect_as(&p, &p.database).await.unwrap();
        sqlx::query("CREATE TABLE t (id int)")
            .execute(&mut c)
            .await
            .unwrap();
        // The migrations' only extension is trusted: the database owner may create it.
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();

        // An older Storefront takes it over; the newer one now conflicts.
        assert_eq!(pg.ensure(&p, &older).await.unwrap(), Ensured::Adopted);
        let e = pg.ensure(&p, &newer).await.unwrap_err();
        assert!(
            matches!(e, ExtError::Conflict { ref owner, .. } if owner == "test/older"),
            "{e:?}"
        );
        // A conflicting Storefront's delete leaves the data alone.
        pg.delete(&p, &newer).await.unwrap();
        assert!(connect_as(&p, &p.database).await.is_ok());

        // Retain releases the claim: another Storefront adopts the data.
        pg.release(&p, &older).await.unwrap();
        assert_eq!(pg.ensure(&p, &newer).await.unwrap(), Ensured::Adopted);

        pg.delete(&p, &newer).await.unwrap();
        assert!(connect_as(&p, &p.database).await.is_err());
        // Deleting what is gone is success.
        pg.delete(&p, &newer).await.unwrap();
        pg.release(&p, &newer).await.unwrap();
    }

    #[tokio::test]
    async fn adopt_existing_and_correct_drift() {
        let pg = Postgres::new(ADMIN).unwrap();
        let p = plan(&unique("sfop_"));
        let me = claim("me", "2026-01-01T00:00:00Z");
        let mut admin = PgConnection::connect(ADMIN).await.unwrap();
        exec(&mut admin, format!("CREATE DATABASE \"{}\"", p.database))
            .await
            .unwrap();
        assert_eq!(pg.ensure(&p, &me).await.unwrap(), Ensured::Adopted);
        // Drift: someone disables the login and opens the database to every role. (The dev
        // server trusts local connections, so LOGIN, not the password, is what is observable.)
        let other = plan(&unique("sfop_other_"));
        exec(&mut admin, format!("CREATE ROLE \"{}\" LOGIN", other.owner))
            .await
            .unwrap();
        exec(&mut admin, format!("ALTER ROLE \"{}\" NOLOGIN", p.owner))
            .await
            .unwrap();
        exec(
            &mut admin,
            format!("GRANT CONNECT ON DATABASE \"{}\" TO PUBLIC", p.database),
        )
        .await
        .unwrap();
        assert!(connect_as(&p, &p.database).await.is_err());
        assert!(connect_as(&other, &p.database).await.is_ok());
        assert_eq!(pg.ensure(&p, &me).await.unwrap(), Ensured::Unchanged);
        assert!(connect_as(&p, &p.database).await.is_ok());
        assert!(connect_as(&other, &p.database).await.is_err());
        exec(&mut admin, format!("DROP ROLE \"{}\"", other.owner))
            .await
            .unwrap();
        pg.delete(&p, &me).await.unwrap();
        admin.close().await.ok();
    }

    #[tokio::test]
    async fn a_service_reaches_only_its_own_database() {
        let pg = Postgres::new(ADMIN).unwrap();
        let me = claim("me", "2026-01-01T00:00:00Z");
        let a = plan(&unique("sfop_a_"));
        let b = plan(&unique("sfop_b_"));
        pg.ensure(&a, &me).await.unwrap();
        pg.ensure(&b, &me).await.unwrap();
        assert!(connect_as(&a, &a.database).await.is_ok());
        let e = connect_as(&a, &b.database).await.unwrap_err().to_string();
        assert!(e.contains("permission denied"), "{e}");
        pg.delete(&a, &me).await.unwrap();
        pg.delete(&b, &me).await.unwrap();
    }

    #[tokio::test]
    async fn bad_credentials_are_permanent_and_unreachable_is_transient() {
        let bad = Postgres::new("postgres://nobody_sfop:x@127.0.0.1:5432/postgres").unwrap();
        let p = plan(&unique("sfop_"));
        let me = claim("me", "2026-01-01T00:00:00Z");
        let e = bad.ensure(&p, &me).await.unwrap_err();
        assert!(matches!(e, ExtError::Permanent(_)), "{e:?}");
        let down = Postgres::new("postgres://postgres@127.0.0.1:1/postgres").unwrap();
        let e = down.ensure(&p, &me).await.unwrap_err();
        assert!(matches!(e, ExtError::Transient(_)), "{e:?}");
    }
}
