//! Image builds through bollard: the context streamed to the engine, its output to the deployment log,
//! stopped at the time limit or on cancel.

use super::bollard::DockerEngine;
use super::engine::{BuildRequest, EngineError};
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

impl DockerEngine {
    /// One build, and a second one when the engine's cache changed under the first.
    pub(super) async fn build_with_retry(
        &self,
        req: &BuildRequest,
        log: &(dyn Fn(String) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        match self.build_once(req, log, cancel).await {
            // A parallel image removal can delete a cache layer this build was about to use; a second
            // try sees the cache as it is now.
            Err(EngineError::Build(message)) if cache_vanished(&message) => {
                log(format!("the engine's build cache changed during the build ({message}); building again"));
                self.build_once(req, log, cancel).await
            }
            other => other,
        }
    }

    async fn build_once(
        &self,
        req: &BuildRequest,
        log: &(dyn Fn(String) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(&req.dockerfile)
            .t(&req.tag)
            .rm(true)
            .forcerm(true)
            .labels(&req.labels)
            .build();
        let mut stream = docker.build_image(options, None, Some(bollard::body_full(req.context.clone().into())));
        let consume = async {
            while let Some(item) = stream.next().await {
                let info = item.map_err(|e| EngineError::Build(e.to_string()))?;
                if let Some(detail) = info.error_detail {
                    return Err(EngineError::Build(detail.message.unwrap_or_default()));
                }
                for line in info.stream.iter().chain(info.status.iter()).flat_map(|s| s.lines()) {
                    if !line.trim().is_empty() {
                        log(line.trim_end().to_owned());
                    }
                }
            }
            Ok(())
        };
        // Dropping the stream closes the connection, and the engine stops the build.
        tokio::select! {
            result = tokio::time::timeout(req.timeout, consume) => result.map_err(|_| EngineError::BuildTimeout(req.timeout.as_secs()))?,
            _ = cancel.cancelled() => Err(EngineError::Cancelled),
        }
    }
}

/// Engine errors that mean a cached layer disappeared mid-build, not that the Dockerfile is wrong.
fn cache_vanished(message: &str) -> bool {
    ["failed to get digest", "No such image", "unknown parent image ID"].iter().any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_vanished_cache_layer_is_told_from_a_broken_dockerfile() {
        for seen in [
            "Docker stream error: failed to export image: failed to set parent sha256:dce1: unknown parent image ID sha256:dce1",
            "failed to get digest sha256:ab: image not known",
            "No such image: sha256:ab",
        ] {
            assert!(super::cache_vanished(seen), "{seen}");
        }
        assert!(!super::cache_vanished("The command '/bin/sh -c exit 1' returned a non-zero code: 1"));
    }
}
