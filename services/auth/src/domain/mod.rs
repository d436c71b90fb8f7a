//! Account rules as types: a value that exists has passed its checks (`parse` constructors).

use std::fmt;

use kit::jwt::Role;

/// Longest e-mail address accepted (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;
/// Password length bounds, in Unicode scalar values.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
/// Longest display name.
pub const DISPLAY_NAME_MAX: usize = 100;

/// A rule a field broke; `field` is the request field path.
pub use kit::problem::FieldError as Invalid;

/// A login e-mail: trimmed, lowercased, `local@domain` with a dotted domain, at most 254 chars.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        let e = raw.trim().to_lowercase();
        if e.is_empty() {
            return Err(Invalid::new(field, "is required"));
        }
        if e.chars().count() > EMAIL_MAX {
            return Err(Invalid::new(
                field,
                format!("must be at most {EMAIL_MAX} characters"),
            ));
        }
        let bad = || Invalid::new(field, "is not an e-mail address");
        if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = e.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels
                .iter()
                .any(|l| l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-'))
        {
            return Err(bad());
        }
        Ok(Self(e))
    }

    /// What login compares with: trimmed and lowercased, without the address checks (a stored
    /// address always passed them, so a malformed one simply matches nobody).
    pub fn normalise(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Passwords so common that a guessing attack tries them first. Compared case-insensitively.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password123",
    "passw0rd",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "11111111",
    "00000000",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "abc12345",
    "letmein1",
    "trustno1",
    "superman",
    "starwars",
    "dragon123",
    "monkey123",
    "whatever",
    "changeme",
    "administrator",
    "storefront",
    "qwertyui",
    "asdfghjk",
    "1q2w3e4r",
    "zaq12wsx",
];

/// A password that meets the policy: 8..=128 Unicode scalar values, not a common password.
/// Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n == 0 {
            return Err(Invalid::new(field, "is required"));
        }
        if n < PASSWORD_MIN {
            return Err(Invalid::new(
                field,
                format!("must be at least {PASSWORD_MIN} characters"),
            ));
        }
        if n > PASSWORD_MAX {
            return Err(Invalid::new(
                field,
                format!("must be at most {PASSWORD_MAX} characters"),
            ));
        }
        let lower = raw.to_lowercase();
        if COMMON_PASSWORDS.contains(&lower.as_str()) {
            return Err(Invalid::new(
                field,
                "is one of the most common passwords; choose another",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An optional display name: trimmed, at most 100 characters, no control characters.
pub fn parse_display_name(field: &'static str, raw: &str) -> Result<Option<String>, Invalid> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > DISPLAY_NAME_MAX {
        return Err(Invalid::new(
            field,
            format!("must be at most {DISPLAY_NAME_MAX} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(Some(t.to_owned()))
}

/// Stored role names to roles; unknown names (none are allowed by the schema) are skipped.
pub fn roles_from_db(names: &[String]) -> Vec<Role> {
    let mut out: Vec<Role> = names
        .iter()
        .filter_map(|n| match n.as_str() {
            "customer" => Some(Role::Customer),
            "admin" => Some(Role::Admin),
            _ => None,
        })
        .collect();
    if !out.contains(&Role::Customer) {
        out.insert(0, Role::Customer);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let e = Email::parse("email", "  Alice.Smith@Example.COM \n").unwrap();
        assert_eq!(e.as_str(), "alice.smith@example.com");
        assert_eq!(Email::normalise(" A@B.C "), "a@b.c");
        // SQL metacharacters are just characters.
        let e = Email::parse("email", "o'brien+test\"--@example.com").unwrap();
        assert_eq!(e.as_str(), "o'brien+test\"--@example.com");
    }

    #[test]
    fn bad_emails_name_the_field() {
        for raw in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@",
            "a@localhost",
            "a@exa mple.com",
            "a@.com",
            "a@-x.com",
            "a@example..com",
        ] {
            let err = Email::parse("email", raw).unwrap_err();
            assert_eq!(err.field, "email", "{raw:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        let err = Email::parse("email", &long).unwrap_err();
        assert!(err.message.contains("254"), "{err}");
    }

    #[test]
    fn password_policy() {
        assert!(Password::parse("password", "correct horse").is_ok());
        assert!(Password::parse("password", &"é".repeat(8)).is_ok());
        let e = Password::parse("password", "short").unwrap_err();
        assert!(e.message.contains("at least 8"), "{e}");
        assert!(Password::parse("password", &"x".repeat(128)).is_ok());
        let e = Password::parse("password", &"x".repeat(129)).unwrap_err();
        assert!(e.message.contains("at most 128"), "{e}");
        let e = Password::parse("new_password", "PassWord123").unwrap_err();
        assert_eq!(e.field, "new_password");
        assert!(e.message.contains("common"), "{e}");
        assert!(
            Password::parse("password", "")
                .unwrap_err()
                .message
                .contains("required")
        );
        assert_eq!(
            format!("{:?}", Password::parse("p", "s3cret-value").unwrap()),
            "Password(..)"
        );
    }

    #[test]
    fn display_names() {
        assert_eq!(parse_display_name("display_name", "  ").unwrap(), None);
        assert_eq!(
            parse_display_name("display_name", " Robert'); DROP TABLE users;-- ").unwrap(),
            Some("Robert'); DROP TABLE users;--".to_owned())
        );
        assert!(parse_display_name("display_name", &"n".repeat(101)).is_err());
        assert!(parse_display_name("display_name", "a\u{0}b").is_err());
    }

    #[test]
    fn stored_roles_always_include_customer() {
        assert_eq!(
            roles_from_db(&["admin".into()]),
            vec![Role::Customer, Role::Admin]
        );
        assert_eq!(roles_from_db(&[]), vec![Role::Customer]);
    }
}
