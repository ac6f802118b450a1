//! Asking a running service's own HTTP endpoints (`/metrics`, `/health`,
//! the query API) from tools and tests.

use std::net::SocketAddr;

/// A minimal blocking HTTP GET of a loopback endpoint of a service (for
/// `cisp-demo` and the tests; not a general HTTP client). Returns the body
/// of a 200 answer.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    get_with(addr, path, None)
}

/// [`get`] with a bearer token (for the query API).
pub fn get_with(addr: SocketAddr, path: &str, token: Option<&str>) -> std::io::Result<String> {
    use std::io::{Error, Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n")?;
    let mut text = String::new();
    s.take(16 * 1024 * 1024).read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("");
    if status.split(' ').nth(1) != Some("200") {
        let body: String = body.chars().take(2048).collect();
        return Err(Error::other(format!("GET {path}: {status}: {body}")));
    }
    Ok(body.to_owned())
}
