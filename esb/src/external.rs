//! The external gateway ЭҮСШ: the subsystem of the bus through which systems outside the state
//! bodies' transport environment reach those inside it. It is its own endpoint with its own
//! address (host `vshep` in a simulated episode, `--external-listen` of `qaqpa serve bus`),
//! in front of the same registry and store as the inner gateway ЭҮШ; what sets the two apart
//! is who each admits, decided here from the registry's statement about the sender:
//! - a non-state system reaches state services only through ЭҮСШ (eint-4);
//! - a system in the outer-circuit segment that interacts over the Internet, or one placed on
//!   the Internet, reaches inner-circuit systems only through ЭҮСШ (ureq-139.10, 139.11),
//!   even a state body's.

use std::sync::Arc;

use crate::bus::{Gateway, Placement, Shared, SystemEntry};
use crate::errors::{ErrorCode, ErrorInfo};

/// Whether `gateway` admits calls from `sender`.
pub fn admits(gateway: Gateway, sender: &SystemEntry) -> Result<(), ErrorInfo> {
    if gateway == Gateway::External {
        return Ok(());
    }
    if !sender.state {
        return Err(ErrorInfo::new(
            ErrorCode::ExternalGatewayRequired,
            format!(
                "`{}` is a non-state system: it reaches state services only through the external gateway (ЭҮСШ)",
                sender.id
            ),
        ));
    }
    if sender.placement != Placement::Inner {
        return Err(ErrorInfo::new(
            ErrorCode::ExternalGatewayRequired,
            format!(
                "`{}` sits {}: it reaches inner-circuit systems only through the external gateway (ЭҮСШ)",
                sender.id,
                if sender.placement == Placement::Internet {
                    "on the Internet"
                } else {
                    "in the outer-circuit segment"
                }
            ),
        ));
    }
    Ok(())
}

/// Serves ЭҮСШ on its own listener over real sockets (`qaqpa serve bus --external-listen`),
/// sharing `shared` (the registry and the store) with the inner gateway's listener.
pub fn serve_tcp(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    threads: usize,
) -> std::io::Result<()> {
    crate::http::serve_tcp(shared, Gateway::External, listener, threads)
}
