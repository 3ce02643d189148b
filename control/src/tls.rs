//! The gRPC server's TLS, as KEDA's TriggerAuthentication for an external
//! scaler expects (`tls: enable`, `ca` to verify us, `cert`/`key` for
//! KEDA's client certificate, which `client_ca` verifies).

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::ControlError;
use crate::settings::TlsFiles;

pub(crate) fn server_config(files: &TlsFiles) -> Result<ServerTlsConfig, ControlError> {
    let read = |setting: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| ControlError::Tls { setting, message: format!("cannot read {}: {e}", path.display()) })
    };
    let cert = read("--tls-cert", &files.cert)?;
    let key = read("--tls-key", &files.key)?;
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &files.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read("--tls-client-ca", ca)?));
    }
    Ok(config)
}
