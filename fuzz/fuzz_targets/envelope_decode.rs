//! `Envelope::decode` on arbitrary SQS message bodies.
//!
//! Properties (any violation panics, which libFuzzer records as a crash):
//! * decoding never panics, whatever the bytes;
//! * the error class is right: `malformed_json` exactly when the body is not JSON at all;
//! * an accepted envelope satisfies the envelope's rules (type 1..=128 bytes, non-nil id,
//!   exactly one of `payload` / `payload_ref`, an `idempotency_key` of 1..=128 characters if any);
//! * re-encoding round-trips: `decode(to_json(e)) == e`, and encoding that again gives the same
//!   text (what a DLQ replay or a producer re-sending a decoded envelope relies on).
#![no_main]

use jobfleet_fuzz::{CappedAlloc, MIB};
use jobfleet_contract::{DecodeErrorClass, Envelope};
use libfuzzer_sys::fuzz_target;

// Bodies are at most -max_len (16 KiB in scripts/fuzz.sh); nothing should need 64 MiB at once.
#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc::new(64 * MIB);

fuzz_target!(|body: &[u8]| {
    let is_json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
    match Envelope::decode(body) {
        Err(e) => {
            assert!(!e.message.is_empty(), "empty message for {:?}", e.class);
            assert_eq!(
                e.class == DecodeErrorClass::MalformedJson,
                !is_json,
                "class {:?} for a body that is_json={is_json}: {}",
                e.class,
                e.message
            );
        }
        Ok(env) => {
            assert!(is_json);
            assert!((1..=128).contains(&env.job_type.len()), "accepted type of {} bytes", env.job_type.len());
            assert!(!env.id.is_nil(), "accepted the nil id");
            assert!(
                env.idempotency_key.as_ref().is_none_or(|k| (1..=128).contains(&k.chars().count())),
                "accepted idempotency_key {:?}",
                env.idempotency_key
            );
            assert!(
                env.payload.is_some() != env.payload_ref.is_some(),
                "accepted payload={:?} payload_ref={:?}",
                env.payload,
                env.payload_ref
            );
            let json = env.to_json();
            let again = Envelope::decode(json.as_bytes()).unwrap_or_else(|e| panic!("re-encoded envelope does not decode: {e}\n{json}"));
            assert_eq!(again, env, "round trip changed the envelope\n{json}");
            assert_eq!(again.to_json(), json, "encoding is not stable");
        }
    }
});
