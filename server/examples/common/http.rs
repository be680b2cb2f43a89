//! The load generators' HTTP client: one kept-alive connection per thread,
//! as a browser's `fetch` (and so HttpProvider) keeps one, so that no
//! request pays for a TCP connect and the server's accept. `ureq::post`
//! would build a new agent, and so a new connection, for every request.

thread_local! {
    static AGENT: ureq::Agent = ureq::AgentBuilder::new().build();
}

/// A POST on this thread's connection.
pub fn post(url: &str) -> ureq::Request {
    AGENT.with(|a| a.post(url))
}

/// A GET on this thread's connection.
#[allow(dead_code)] // not every load generator reads
pub fn get(url: &str) -> ureq::Request {
    AGENT.with(|a| a.get(url))
}
