//! One page shape for every list: `limit` and an opaque `cursor` in, `items` and `next_cursor`
//! out. Pages are keyset pages: a cursor holds the sort key of the last item shown, so edits
//! and inserts between two requests never make the next page skip or repeat an item that kept
//! its place. A cursor names its list (and sort order) and is refused by any other list.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::wire::FieldError;

use crate::error::ApiError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

/// The `limit` and `cursor` query parameters every list takes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default and largest value depend on the list; see its description).
    pub limit: Option<u64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// How large a list's pages may be.
#[derive(Debug, Clone, Copy)]
pub struct PageSize {
    pub default: u64,
    pub max: u64,
}

/// Lists of small rows (users, tenants, audit events, prompt summaries, versions).
pub const LIST_PAGE: PageSize = PageSize { default: 50, max: 500 };
/// Lists whose rows can each be large (run records carry their output, up to
/// `AI_MAX_ANSWER_BYTES`), so a page stays a bounded response.
pub const LARGE_ROW_PAGE: PageSize = PageSize { default: 20, max: 20 };

/// A parsed page request: where to continue (`None` for the first page) and how many.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest<K> {
    pub after: Option<K>,
    pub limit: u64,
}

/// Longer cursors are refused before they are decoded.
const MAX_CURSOR_LEN: usize = 2048;

#[derive(Serialize, Deserialize)]
struct Cursor<K> {
    /// The list (and sort order) this cursor belongs to.
    l: String,
    /// The sort key of the last item of the page.
    k: K,
}

impl PageQuery {
    /// The page asked for in `list` (a name such as `users` or `prompts:name`); invalid limits
    /// and cursors add a field error.
    pub fn parse<K: DeserializeOwned>(
        &self,
        list: &str,
        size: PageSize,
        errors: &mut Vec<FieldError>,
    ) -> PageRequest<K> {
        let limit = self.limit.unwrap_or(size.default);
        if !(1..=size.max).contains(&limit) {
            errors.push(FieldError::new("limit", format!("must be 1 to {}", size.max)));
        }
        let after = self.cursor.as_deref().and_then(|raw| {
            decode(list, raw)
                .ok_or_else(|| errors.push(FieldError::new("cursor", "is not a cursor of this list")))
                .ok()
        });
        PageRequest { after, limit }
    }
}

/// The `next_cursor` for a page whose last item has the sort key `key` (`None`: last page).
pub fn next_cursor<K: Serialize>(list: &str, key: Option<K>) -> Option<String> {
    let json = serde_json::to_vec(&Cursor { l: list.to_owned(), k: key? }).ok()?;
    Some(URL_SAFE_NO_PAD.encode(json))
}

fn decode<K: DeserializeOwned>(list: &str, raw: &str) -> Option<K> {
    if raw.len() > MAX_CURSOR_LEN {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let cursor: Cursor<K> = serde_json::from_slice(&json).ok()?;
    (cursor.l == list).then_some(cursor.k)
}

/// A keyset-paged list as a streamed response body: `fetch` reads the page after a key (the
/// first for `None`), `write` appends an item's bytes. Memory stays at one page however long
/// the list, and no database connection is held between pages. A failure midway ends the body
/// with an error, which cuts the connection: a client never takes a partial file for a whole.
pub fn stream_pages<T, K, F, Fut, W>(
    fetch: F,
    write: W,
) -> impl futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_web::Error>>
where
    F: FnMut(Option<K>) -> Fut,
    Fut: Future<Output = Result<persistence::Page<T, K>, ApiError>>,
    W: FnMut(&mut Vec<u8>, T) -> Result<(), ApiError>,
{
    struct Walk<F, W, K> {
        fetch: F,
        write: W,
        after: Option<K>,
        done: bool,
    }
    let walk = Walk { fetch, write, after: None, done: false };
    futures_util::stream::try_unfold(walk, |mut walk| async move {
        if walk.done {
            return Ok(None);
        }
        let page = (walk.fetch)(walk.after.take()).await.map_err(|e| {
            tracing::error!(error = %e, "a streamed export failed midway; the response is cut off");
            actix_web::Error::from(e)
        })?;
        let mut chunk = Vec::new();
        for item in page.items {
            (walk.write)(&mut chunk, item)?;
        }
        walk.done = page.next_cursor.is_none();
        walk.after = page.next_cursor;
        Ok(Some((actix_web::web::Bytes::from(chunk), walk)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<u64>, cursor: Option<&str>) -> PageQuery {
        PageQuery { limit, cursor: cursor.map(str::to_owned) }
    }

    #[test]
    fn a_cursor_round_trips_within_its_list_only() {
        let id = uuid::Uuid::now_v7();
        let cursor = next_cursor("users", Some(id)).unwrap();
        let mut errors = Vec::new();
        let page = query(Some(10), Some(&cursor)).parse::<uuid::Uuid>("users", LIST_PAGE, &mut errors);
        assert_eq!(page, PageRequest { after: Some(id), limit: 10 });
        assert!(errors.is_empty());

        let _ = query(None, Some(&cursor)).parse::<uuid::Uuid>("tenants", LIST_PAGE, &mut errors);
        assert_eq!(errors.len(), 1, "a users cursor is not a tenants cursor");
    }

    #[test]
    fn hostile_cursors_and_limits_are_field_errors() {
        let long = "A".repeat(MAX_CURSOR_LEN + 1);
        for cursor in ["abc", "", "%%%", "eyJsIjoidXNlcnMifQ", long.as_str()] {
            let mut errors = Vec::new();
            let page = query(None, Some(cursor)).parse::<uuid::Uuid>("users", LIST_PAGE, &mut errors);
            assert_eq!(page.after, None);
            assert_eq!(errors.len(), 1, "{cursor:?}");
        }
        for limit in [0, LIST_PAGE.max + 1, u64::MAX] {
            let mut errors = Vec::new();
            let _ = query(Some(limit), None).parse::<uuid::Uuid>("users", LIST_PAGE, &mut errors);
            assert_eq!(errors.len(), 1, "{limit}");
        }
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        assert_eq!(next_cursor::<uuid::Uuid>("users", None), None);
    }
}
