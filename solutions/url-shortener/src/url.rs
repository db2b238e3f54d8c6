//! Which URLs the service shortens.

use crate::{MAX_URL_LEN, ShortenError};

/// Accepts a URL the service may redirect to, or says why not:
///
/// 1. at most [`MAX_URL_LEN`] bytes;
/// 2. no whitespace and no control characters anywhere;
/// 3. the scheme is `http` or `https` (in any case), followed by `://`;
/// 4. the host is not empty: the authority (what follows `://`, up to the
///    first `/`, `?` or `#`), without a `user@` prefix and a `:port` suffix.
pub fn validate(url: &str) -> Result<(), ShortenError> {
    if url.len() > MAX_URL_LEN {
        return Err(ShortenError::InvalidUrl("longer than 2048 bytes"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ShortenError::InvalidUrl(
            "contains whitespace or control characters",
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(ShortenError::InvalidUrl("no scheme"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(ShortenError::InvalidUrl("not http or https"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if host_and_port.starts_with('[') {
        // An IPv6 literal, `[::1]:8080`: its colons are not a port.
        host_and_port
            .split_once(']')
            .map_or(host_and_port, |(literal, _)| literal)
            .trim_start_matches('[')
    } else {
        host_and_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(ShortenError::InvalidUrl("no host"));
    }
    Ok(())
}
