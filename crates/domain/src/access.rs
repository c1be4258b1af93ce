//! Who may call what. Each API route has one [`Policy`] (the table lives in the API crate);
//! [`Policy::check`] decides for a [`Caller`].

use crate::session::TokenScope;
use crate::user::Role;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A session from signing in (browser app, CLI).
    Session,
    /// An API token with its scope.
    ApiToken(TokenScope),
}

/// An authenticated caller, reduced to what access decisions need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
    /// An admin of the system tenant.
    pub is_system_admin: bool,
    pub via: Via,
}

impl Caller {
    /// Whether the caller may move a protected release label, approve or deny such a move, and
    /// change which labels are protected: an admin signed in, or an admin's `promote` token.
    /// No other token qualifies, whatever its owner's role.
    pub fn may_release(&self) -> bool {
        self.role == Role::Admin && matches!(self.via, Via::Session | Via::ApiToken(TokenScope::Promote))
    }
}

/// The rule for one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in caller, API tokens of either scope included. Reads only.
    Reader,
    /// Users and admins changing their tenant's content (prompts): sessions or read-write
    /// tokens. Which items they may change (their own, or any for admins) is decided per item.
    Writer,
    /// A signed-in person acting on their own account (sessions only: an API token cannot
    /// change passwords or mint tokens).
    SelfService,
    /// Tenant admins (and system admins); reads, so read-scope tokens of admins qualify.
    TenantAdminRead,
    /// Tenant admins (and system admins) changing data: sessions or read-write tokens.
    TenantAdmin,
    /// System administrators only; reads.
    SystemAdminRead,
    /// System administrators only, changing data.
    SystemAdmin,
}

/// Why access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No (valid) credentials: 401.
    Unauthenticated,
    /// Valid credentials without the right: 403.
    Forbidden,
}

impl Policy {
    pub fn check(self, caller: Option<&Caller>) -> Result<(), Denial> {
        if self == Policy::Public {
            return Ok(());
        }
        let caller = caller.ok_or(Denial::Unauthenticated)?;
        let may_write = caller.via != Via::ApiToken(TokenScope::Read);
        let admin = caller.role == Role::Admin;
        let system_admin = admin && caller.is_system_admin;
        let allowed = match self {
            Policy::Public | Policy::Reader => true,
            Policy::Writer => caller.role != Role::Readonly && may_write,
            Policy::SelfService => caller.via == Via::Session,
            Policy::TenantAdminRead => admin,
            Policy::TenantAdmin => admin && may_write,
            Policy::SystemAdminRead => system_admin,
            Policy::SystemAdmin => system_admin && may_write,
        };
        if allowed { Ok(()) } else { Err(Denial::Forbidden) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, is_system_admin: bool, via: Via) -> Caller {
        Caller { role, is_system_admin, via }
    }

    #[test]
    fn anonymous_callers_get_only_public_routes() {
        assert_eq!(Policy::Public.check(None), Ok(()));
        for policy in [Policy::Reader, Policy::SelfService, Policy::TenantAdminRead, Policy::SystemAdminRead]
        {
            assert_eq!(policy.check(None), Err(Denial::Unauthenticated), "{policy:?}");
        }
    }

    #[test]
    fn tokens_cannot_do_self_service() {
        let token = caller(Role::Admin, true, Via::ApiToken(TokenScope::ReadWrite));
        assert_eq!(Policy::SelfService.check(Some(&token)), Err(Denial::Forbidden));
        assert_eq!(Policy::Reader.check(Some(&token)), Ok(()));
        let readonly_session = caller(Role::Readonly, false, Via::Session);
        assert_eq!(Policy::SelfService.check(Some(&readonly_session)), Ok(()));
    }

    #[test]
    fn admin_routes_need_the_role() {
        let user = caller(Role::User, false, Via::Session);
        let admin = caller(Role::Admin, false, Via::Session);
        let system_admin = caller(Role::Admin, true, Via::Session);
        let admin_read_token = caller(Role::Admin, false, Via::ApiToken(TokenScope::Read));
        assert_eq!(Policy::TenantAdminRead.check(Some(&user)), Err(Denial::Forbidden));
        assert_eq!(Policy::TenantAdminRead.check(Some(&admin)), Ok(()));
        assert_eq!(Policy::TenantAdminRead.check(Some(&admin_read_token)), Ok(()));
        assert_eq!(Policy::SystemAdminRead.check(Some(&admin)), Err(Denial::Forbidden));
        assert_eq!(Policy::SystemAdminRead.check(Some(&system_admin)), Ok(()));
        assert_eq!(Policy::SystemAdmin.check(Some(&system_admin)), Ok(()));
        assert_eq!(Policy::SystemAdmin.check(Some(&admin)), Err(Denial::Forbidden));
    }

    #[test]
    fn read_tokens_never_change_data() {
        let read = caller(Role::Admin, true, Via::ApiToken(TokenScope::Read));
        let read_write = caller(Role::Admin, true, Via::ApiToken(TokenScope::ReadWrite));
        assert_eq!(Policy::TenantAdmin.check(Some(&read)), Err(Denial::Forbidden));
        assert_eq!(Policy::SystemAdmin.check(Some(&read)), Err(Denial::Forbidden));
        assert_eq!(Policy::TenantAdminRead.check(Some(&read)), Ok(()));
        assert_eq!(Policy::TenantAdmin.check(Some(&read_write)), Ok(()));
        assert_eq!(Policy::SystemAdmin.check(Some(&read_write)), Ok(()));
    }

    #[test]
    fn only_admin_sessions_and_admin_promote_tokens_release() {
        let admin = |via| caller(Role::Admin, false, via);
        assert!(admin(Via::Session).may_release());
        assert!(admin(Via::ApiToken(TokenScope::Promote)).may_release());
        assert!(!admin(Via::ApiToken(TokenScope::ReadWrite)).may_release());
        assert!(!admin(Via::ApiToken(TokenScope::Read)).may_release());
        assert!(!caller(Role::User, false, Via::Session).may_release());
        assert!(!caller(Role::User, false, Via::ApiToken(TokenScope::Promote)).may_release());
        let promote = admin(Via::ApiToken(TokenScope::Promote));
        assert_eq!(Policy::Writer.check(Some(&promote)), Ok(()));
        assert_eq!(Policy::SelfService.check(Some(&promote)), Err(Denial::Forbidden));
    }

    #[test]
    fn writers_are_users_and_admins_with_write_credentials() {
        let readonly = caller(Role::Readonly, false, Via::Session);
        let user = caller(Role::User, false, Via::Session);
        let user_read_token = caller(Role::User, false, Via::ApiToken(TokenScope::Read));
        let admin_token = caller(Role::Admin, false, Via::ApiToken(TokenScope::ReadWrite));
        assert_eq!(Policy::Writer.check(None), Err(Denial::Unauthenticated));
        assert_eq!(Policy::Writer.check(Some(&readonly)), Err(Denial::Forbidden));
        assert_eq!(Policy::Writer.check(Some(&user_read_token)), Err(Denial::Forbidden));
        assert_eq!(Policy::Writer.check(Some(&user)), Ok(()));
        assert_eq!(Policy::Writer.check(Some(&admin_token)), Ok(()));
    }
}
