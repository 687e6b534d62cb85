//! What password and OIDC profile infos share in storage: each is a row of one user, read and
//! locked by its id together with that user's id, listed per user, and deleted as a change that
//! touches the user. What they hold, and how they are created and changed (a username and a
//! password hash; an identity that must stay unique), differ and stay in `users.rs` and `oidc.rs`.

use std::marker::PhantomData;

use sqlx::FromRow;
use uuid::Uuid;

use super::{Db, FOR_UPDATE, ListSpec, Row, Scope, SqlStore, Tx, member_records};
use crate::query::sql::Bind;
use crate::store::{Entity, ListQuery, NewAuditEvent, Page, StoreError, StoreResult};
use crate::time::Timestamp;

/// One kind of profile info: its table and list (`list.from`, `list.columns`), the entity a
/// missing row is reported as, and the row type its columns are read into.
pub(super) struct InfoTable<R> {
    pub(super) list: ListSpec,
    pub(super) missing: Entity,
    pub(super) row: PhantomData<fn() -> R>,
}

impl<R> InfoTable<R>
where
    R: for<'r> FromRow<'r, Row> + Send + Unpin,
{
    fn select(&self, lock: &str) -> String {
        format!(
            "SELECT {} FROM {} WHERE id = $1 AND user_id = $2{lock}",
            self.list.columns, self.list.from
        )
    }

    /// The info `id` of user `user_id`, locked for the rest of the transaction.
    pub(super) async fn lock<T: From<R>>(
        &self,
        tx: &mut Tx,
        user_id: Uuid,
        id: Uuid,
    ) -> StoreResult<T> {
        Ok(
            sqlx::query_as::<Db, R>(sqlx::AssertSqlSafe(self.select(FOR_UPDATE)))
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound(self.missing))?
                .into(),
        )
    }

    /// The info `id` of user `user_id`.
    pub(super) async fn read<T: From<R>>(
        &self,
        store: &SqlStore,
        user_id: Uuid,
        id: Uuid,
    ) -> StoreResult<T> {
        Ok(
            sqlx::query_as::<Db, R>(sqlx::AssertSqlSafe(self.select("")))
                .bind(id)
                .bind(user_id)
                .fetch_optional(&store.read)
                .await?
                .ok_or(StoreError::NotFound(self.missing))?
                .into(),
        )
    }

    /// One page of the infos of user `user_id`.
    pub(super) async fn list<T: From<R>>(
        &self,
        store: &SqlStore,
        user_id: Uuid,
        query: &ListQuery,
    ) -> StoreResult<Page<T>> {
        let binds = [Bind::Uuid(user_id)];
        let scope = Scope {
            predicate: "user_id = $1",
            binds: &binds,
        };
        let page = store.page::<R>(&self.list, scope, query).await?;
        Ok(Page {
            items: page.items.into_iter().map(T::from).collect(),
            total: page.total,
        })
    }

    /// Deletes the info `id` of user `user_id`; the user's `updated_at` moves with it.
    pub(super) async fn delete(
        &self,
        store: &SqlStore,
        user_id: Uuid,
        id: Uuid,
        now: Timestamp,
        audit: &NewAuditEvent,
    ) -> StoreResult<()> {
        let mut change = store.change(audit, now).await?;
        let sql = format!(
            "DELETE FROM {} WHERE id = $1 AND user_id = $2",
            self.list.from
        );
        let deleted = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(user_id)
            .execute(&mut **change.tx())
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound(self.missing));
        }
        member_records::touch_user(&mut change, user_id).await?;
        change.commit().await?;
        Ok(())
    }
}
