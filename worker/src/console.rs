//! `worker console`: the operator web console (console/ does the work).

use std::process::ExitCode;

use jobfleet_console::{Console, ConsoleArgs};
use jobfleet_runtime::Config;
use tokio_util::sync::CancellationToken;

pub async fn console(config: Config, args: ConsoleArgs) -> ExitCode {
    let settings = match args.validate() {
        Ok(s) => s,
        Err(e) => return crate::fail(2, e),
    };
    let listen = settings.listen;
    let console = match Console::new(config, settings).await {
        Ok(c) => c,
        Err(e) => return crate::fail(e.exit_code, e),
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => return crate::fail(1, format!("JOBFLEET_CONSOLE_LISTEN {listen}: {e}")),
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    eprintln!("console listening on http://{listen}/ (Ctrl-C stops it)");
    match console.serve(listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(1, e),
    }
}
