//! Secrets kept out of what carry shows: the userinfo of a URL (`https://user:token@host/…`,
//! where CI systems and credential-less setups put tokens) is replaced before a URL reaches
//! a report, an API answer, a log or an error.

use std::borrow::Cow;

/// What stands where userinfo was.
pub const REDACTED: &str = "***";

/// `url` with its userinfo replaced by [`REDACTED`]; anything without userinfo (a path, a
/// scp-like `git@host:repo`, whose user is not a secret) is returned as it is.
pub fn url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |end| authority_start + end);
    match url[authority_start..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}{REDACTED}{}",
            &url[..authority_start],
            &url[authority_start + at..]
        )),
        None => Cow::Borrowed(url),
    }
}

/// `text` with every occurrence of `secret_url` written redacted, for messages (a failed
/// command's arguments and output) that quote a URL.
pub fn in_text(text: &str, secret_url: &str) -> String {
    let redacted = url(secret_url);
    if redacted == secret_url {
        return text.to_owned();
    }
    text.replace(secret_url, &redacted)
}

/// `text` with the userinfo of every URL in it redacted, wherever it stands (a log line, an
/// error chain quoting a command line).
pub fn urls_in_text(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        let authority_end = rest[authority_start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#') || c.is_whitespace() || "\"'<>`".contains(c)
            })
            .map_or(rest.len(), |end| authority_start + end);
        match rest[authority_start..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str(&rest[..authority_start]);
                out.push_str(REDACTED);
                out.push_str(&rest[authority_start + userinfo_end..authority_end]);
            }
            None => out.push_str(&rest[..authority_end]),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_in_a_text_loses_its_userinfo() {
        assert_eq!(
            urls_in_text(
                "git fetch https://ci:SECRET@git.example.org/q.git failed: \"http://a:b@h\" x"
            ),
            "git fetch https://***@git.example.org/q.git failed: \"http://***@h\" x"
        );
        assert_eq!(urls_in_text("no url here"), "no url here");
        assert_eq!(
            urls_in_text("https://host/path and ssh://git@host:22/r"),
            "https://host/path and ssh://***@host:22/r"
        );
        assert_eq!(urls_in_text("odd :// end@"), "odd :// end@");
    }

    #[test]
    fn userinfo_is_replaced_and_nothing_else_changes() {
        assert_eq!(
            url("https://ci:glpat-SECRET@gitlab.example.org/nfv/qemu.git"),
            "https://***@gitlab.example.org/nfv/qemu.git"
        );
        assert_eq!(
            url("https://token@host/a@b/repo?x=@#@"),
            "https://***@host/a@b/repo?x=@#@"
        );
        for kept in [
            "https://gitlab.com/qemu-project/qemu.git",
            "git@github.com:libvirt/libvirt.git",
            "../mirrors/libvirt.git",
            "ssh://host/path@odd",
        ] {
            assert_eq!(url(kept), kept);
        }
        assert_eq!(
            in_text(
                "`git fetch -- https://u:p@h/r` failed: could not read https://u:p@h/r",
                "https://u:p@h/r"
            ),
            "`git fetch -- https://***@h/r` failed: could not read https://***@h/r"
        );
    }
}
