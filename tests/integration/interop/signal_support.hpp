// Test-only driver of libsignal-protocol-c (GPL-3.0): an OpenSSL crypto provider, in-memory
// stores and a peer keyed by name. Linked only into tests and benchmarks, never into Backchannel.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/bytes.hpp"

namespace bc::interop {

// SignalError is a libsignal-protocol-c failure: its SG_ERR_* code and a one-line message.
// This test-only code reports errors by exception; each program's main catches them.
class SignalError : public std::runtime_error {
 public:
  SignalError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

// signal_error_name names an SG_ERR_* code ("SG_ERR_DUPLICATE_MESSAGE", ...).
[[nodiscard]] std::string signal_error_name(int code);

// SignalBundle is a prekey bundle in the fields of the JSON-lines protocol (keys 33 bytes).
struct SignalBundle {
  std::uint32_t registration_id = 0;
  int device_id = 1;
  Bytes identity_key;
  std::uint32_t signed_prekey_id = 0;
  Bytes signed_prekey;
  Bytes signed_prekey_signature;
  std::uint32_t prekey_id = 0;
  Bytes prekey;
};

// SignalCiphertext is a serialized message: type 3 PreKeySignalMessage or 2 SignalMessage.
struct SignalCiphertext {
  int type = 0;
  Bytes data;
};

// SignalFingerprint is libsignal-protocol-c's safety number of two identities.
struct SignalFingerprint {
  std::string displayable;
  Bytes scannable;
};

// signal_fingerprint computes libsignal-protocol-c's fingerprint (5,200 iterations, scannable
// version 1) with each stable identifier the lowercase hex of its 33-byte key. Throws
// SignalError on a malformed key.
[[nodiscard]] SignalFingerprint signal_fingerprint(ByteView local_identity_key,
                                                   ByteView remote_identity_key);

// signal_compare_scannable runs libsignal-protocol-c's scannable_fingerprint_compare on two
// serialized CombinedFingerprints: 1 match, 0 mismatch, negative SG_ERR_* otherwise.
[[nodiscard]] int signal_compare_scannable(ByteView local_scannable, ByteView scanned);

// SignalPeer is one libsignal-protocol-c identity (device 1) with in-memory stores. Sessions and
// trusted identities are keyed by peer name; identities are trusted on first use. Every call
// throws SignalError on failure; libsignal-protocol-c leaves its stores unchanged on a failed
// decrypt. Not thread-safe.
class SignalPeer {
 public:
  SignalPeer();
  ~SignalPeer();
  SignalPeer(const SignalPeer&) = delete;
  SignalPeer& operator=(const SignalPeer&) = delete;

  // identity_key is our 33-byte identity public key.
  [[nodiscard]] const Bytes& identity_key() const noexcept;
  [[nodiscard]] std::uint32_t registration_id() const noexcept;
  // bundle returns our prekey bundle with a fresh one-time prekey.
  [[nodiscard]] SignalBundle bundle();
  // process_bundle starts a session with `peer` (X3DH as initiator); throws on a bad signature
  // or an untrusted identity.
  void process_bundle(const std::string& peer, const SignalBundle& bundle);
  // encrypt encrypts for `peer`; throws SG_ERR_NO_SESSION without a session.
  [[nodiscard]] SignalCiphertext encrypt(const std::string& peer, ByteView plaintext);
  // decrypt decrypts a message of `type` (3 or 2) from `peer`.
  [[nodiscard]] Bytes decrypt(const std::string& peer, int type, ByteView ciphertext);
  // safety_number is the 60 digits for `peer`'s trusted identity; throws when none is known.
  [[nodiscard]] std::string safety_number(const std::string& peer);
  // session_record_size is the size of the stored session record for `peer` (0 when none).
  [[nodiscard]] std::size_t session_record_size(const std::string& peer) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bc::interop
