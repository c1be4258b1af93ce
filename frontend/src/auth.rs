//! Who is signed in, for the whole app (a context), and the session's upkeep: checking a
//! remembered token at start, refreshing it before it expires, ending it.

use std::time::Duration;

use domain::user::Role;
use domain::wire::{LoginRequest, MeResponse, SessionResponse, SsoExchangeRequest};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiFailure, session};

/// The signed-in person, shared through context. `Copy`, so handlers can take it freely.
#[derive(Clone, Copy)]
pub struct Auth {
    me: RwSignal<Option<MeResponse>>,
    /// Whether someone is signed in: changes only on sign-in and sign-out, not when the
    /// profile or token is refreshed (the page must not be rebuilt then).
    signed_in: Memo<bool>,
    /// False until a remembered token has been checked at start.
    ready: RwSignal<bool>,
    /// A note for the sign-in page, such as why the session ended.
    pub notice: RwSignal<Option<String>>,
    /// Set when the person signed out themselves (no need to remember their place).
    signed_out: RwSignal<bool>,
    refresh_timer: StoredValue<Option<TimeoutHandle>>,
}

/// The `Auth` of the running app.
pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

impl Auth {
    /// Creates the app's `Auth`, provides it as context and checks a remembered token.
    pub fn provide() -> Self {
        let me = RwSignal::new(None::<MeResponse>);
        let auth = Self {
            me,
            signed_in: Memo::new(move |_| me.with(Option::is_some)),
            ready: RwSignal::new(false),
            notice: RwSignal::new(None),
            signed_out: RwSignal::new(false),
            refresh_timer: StoredValue::new(None),
        };
        provide_context(auth);
        api::on_unauthorized(move || auth.session_ended());
        auth.restore();
        // Timers sleep with a hidden tab: look again whenever it is shown.
        let _ = window_event_listener_untyped("focus", move |_| {
            if auth.me.get_untracked().is_some() {
                auth.schedule_refresh();
            }
        });
        auth
    }

    /// The signed-in person and their tenant (reactive).
    pub fn me(&self) -> Option<MeResponse> {
        self.me.get()
    }

    /// Whether someone is signed in (reactive; see `signed_in`).
    pub fn signed_in(&self) -> bool {
        self.signed_in.get()
    }

    /// Whether the start-up check is done (reactive).
    pub fn ready(&self) -> bool {
        self.ready.get()
    }

    pub fn signed_out_by_user(&self) -> bool {
        self.signed_out.get_untracked()
    }

    pub fn role(&self) -> Option<Role> {
        self.me.with(|me| me.as_ref().map(|m| m.user.role))
    }

    /// May write prompts (every role but `readonly`).
    pub fn can_write(&self) -> bool {
        matches!(self.role(), Some(Role::Admin | Role::User))
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    pub fn is_system_admin(&self) -> bool {
        self.me.with(|me| me.as_ref().is_some_and(|m| m.user.is_system_admin))
    }

    pub fn user_id(&self) -> Option<domain::UserId> {
        self.me.with(|me| me.as_ref().map(|m| m.user.id))
    }

    /// Replaces the known profile (after the person changed their name).
    pub fn set_me(&self, me: MeResponse) {
        self.me.set(Some(me));
    }

    /// Signs in and starts keeping the session fresh.
    pub async fn sign_in(self, request: LoginRequest) -> Result<(), ApiFailure> {
        let session = api::login(&request).await?;
        self.signed_out.set(false);
        self.notice.set(None);
        self.start(session);
        Ok(())
    }

    /// Finishes a single sign-on: the one-time code from the server's redirect becomes a session,
    /// kept like a password sign-in's.
    pub async fn sign_in_with_sso(self, code: String) -> Result<(), ApiFailure> {
        let session = api::sso_exchange(&SsoExchangeRequest { code }).await?;
        self.signed_out.set(false);
        self.notice.set(None);
        self.start(session);
        Ok(())
    }

    /// Ends the session here and on the server; after a single sign-on, also at the identity
    /// provider (the whole window goes to its sign-out page).
    pub fn sign_out(self) {
        self.cancel_refresh();
        self.signed_out.set(true);
        self.notice.set(Some("You have signed out.".to_owned()));
        spawn_local(async move {
            // Best effort: the token is forgotten here whatever the server says.
            let end_session = api::logout().await.ok().and_then(|r| r.end_session_url);
            session::clear();
            if let Some(url) = end_session.as_deref().and_then(api::navigable) {
                let _ = window().location().assign(&url);
            }
        });
        self.me.set(None);
    }

    fn start(self, session: SessionResponse) {
        session::store(&session);
        let me = MeResponse { user: session.user, tenant: session.tenant };
        if self.me.with_untracked(|current| current.as_ref() != Some(&me)) {
            self.me.set(Some(me));
        }
        self.ready.set(true);
        self.schedule_refresh();
    }

    /// The server refused the session (`401`): the app shell sends the person to sign in.
    fn session_ended(self) {
        self.cancel_refresh();
        if self.me.get_untracked().is_some() {
            self.notice.set(Some("Your session has ended. Please sign in again.".to_owned()));
        }
        self.me.set(None);
        self.ready.set(true);
    }

    /// At start: a token remembered by this tab is checked with `GET /auth/me`.
    fn restore(self) {
        if session::token().is_none() || session::is_expired() {
            session::clear();
            self.ready.set(true);
            return;
        }
        spawn_local(async move {
            match api::me().await {
                Ok(me) => {
                    self.me.set(Some(me));
                    self.schedule_refresh();
                }
                // A refused token was forgotten by `api` (and `session_ended` ran); otherwise the
                // server is unreachable: say so on the sign-in page.
                Err(failure) if failure.status != 401 => self.notice.set(Some(failure.to_string())),
                Err(_) => {}
            }
            self.ready.set(true);
        });
    }

    fn cancel_refresh(self) {
        if let Some(handle) = self.refresh_timer.try_update_value(Option::take).flatten() {
            handle.clear();
        }
    }

    /// Refreshes the token shortly before it expires: a tenth of its remaining life early,
    /// between 30 seconds and 5 minutes.
    fn schedule_refresh(self) {
        self.cancel_refresh();
        let Some(expires_at) = session::expires_at() else { return };
        let remaining = expires_at.timestamp_millis() as f64 - session::now_ms();
        let margin = (remaining / 10.0).clamp(30_000.0, 300_000.0);
        // Browsers cap timeouts at 2^31 - 1 ms; a long session is simply looked at again later.
        let delay = (remaining - margin).clamp(0.0, 2_000_000_000.0);
        let handle = set_timeout_with_handle(
            move || {
                let still_early = session::expires_at()
                    .is_some_and(|at| at.timestamp_millis() as f64 - session::now_ms() > margin + 1_000.0);
                if still_early { self.schedule_refresh() } else { self.refresh() }
            },
            Duration::from_millis(delay as u64),
        );
        self.refresh_timer.set_value(handle.ok());
    }

    fn refresh(self) {
        spawn_local(async move {
            match api::refresh().await {
                Ok(session) => self.start(session),
                // Refused: `session_ended` already ran. Unreachable: try again in a while, as
                // long as the token lives.
                Err(failure) if failure.status == 0 && !session::is_expired() => {
                    let handle = set_timeout_with_handle(move || self.refresh(), Duration::from_secs(20));
                    self.refresh_timer.set_value(handle.ok());
                }
                Err(_) => {}
            }
        });
    }
}
