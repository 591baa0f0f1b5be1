//! The service's stop request on Windows: Stop or Shutdown from the SCM
//! (`super::windows_scm`), or Ctrl-C when run in a console. Not compiled here
//! (README "Windows").

/// Resolves on the SCM's Stop/Shutdown or Ctrl-C. The SCM's request is latched
/// by `windows_scm::request_stop`, so one that arrives before this is awaited
/// is not lost.
pub fn stop_signal() -> impl std::future::Future<Output = ()> {
    async {
        tokio::select! {
            _ = super::windows_scm::stop_requested() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
}
