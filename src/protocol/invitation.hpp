// Invitation: what one party hands another (in person, or through a mediator) so that the other
// can open a session: identity key, a prekey bundle, and where to write (relay and queue).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "protocol/keys.hpp"

namespace bc::protocol {

// Version 2 added the relay's signing key to each relay address; version 1 codes are refused.
inline constexpr std::uint32_t kInvitationVersion = 2;
inline constexpr std::size_t kInvitationIdSize = 16;
inline constexpr std::size_t kQueueAddressSize = 16;
inline constexpr std::size_t kMaxRelaysPerInvitation = 2;
inline constexpr std::size_t kMaxNameSize = 64;
inline constexpr std::size_t kMaxRelayUrlSize = 256;
// kInvitationCodePrefix starts every invitation code.
inline constexpr std::string_view kInvitationCodePrefix = "bc1";

// RelayAddress is a queue on a relay: the relay's URL, the SHA-256 fingerprint of its TLS
// certificate and its Ed25519 receipt signing key (both pinned by the client), and the queue's
// sender id (where to deposit).
struct RelayAddress {
  std::string url;
  std::array<std::uint8_t, 32> certificate_sha256{};
  std::array<std::uint8_t, kQueueAddressSize> queue{};
  std::array<std::uint8_t, 32> relay_key{};
  friend bool operator==(const RelayAddress&, const RelayAddress&) = default;
};

// Invitation carries everything needed to start a session with its issuer.
struct Invitation {
  std::array<std::uint8_t, kInvitationIdSize> id{};
  std::string name;  // the issuer's chosen display name (a hint, never trusted)
  PreKeyBundle bundle;
  std::vector<RelayAddress> relays;  // 1 or 2
  std::int64_t expires_at_ms = 0;

  // encode gives canonical bytes; kMalformed when a field breaks a limit (no relay, more than
  // two, a name or URL too long, a URL that is not wss://).
  [[nodiscard]] Result<Bytes> encode() const;
  // decode parses strictly (kMalformed / kUnsupportedVersion); it does not check the signed
  // prekey's signature: process_prekey_bundle does.
  [[nodiscard]] static Result<Invitation> decode(ByteView bytes);

  // to_code renders the one-line text form "bc1" + base64url(encode()).
  [[nodiscard]] Result<std::string> to_code() const;
  // from_code parses a code (surrounding white space ignored); kMalformed with a one-line
  // reason when it is not an invitation code.
  [[nodiscard]] static Result<Invitation> from_code(std::string_view code);
};

}  // namespace bc::protocol
