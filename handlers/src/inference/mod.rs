//! The `ai` pool's handler: `ai.inference`, a chat completion or an
//! embeddings call to an OpenAI-compatible server, with a per-pod bound on
//! calls in flight and large results stored to S3. See docs/handlers.md.

mod config;
mod handler;

pub use config::{InferenceConfig, MAX_INLINE_RESULT_BYTES};
pub use handler::{ChatMessage, ChatRequest, EmbeddingsRequest, Inference, InferenceHandler, InferenceOutput};
