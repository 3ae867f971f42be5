// Assurances: conditional pledges between two parties (deniable or binding), their withdrawal,
// acknowledgement and escrow invitations, each with one canonical encoding; and the lifecycle
// both sides keep, as a pure state machine. Byte layouts: docs/assurances.md.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "protocol/keys.hpp"

namespace bc::protocol {

inline constexpr std::uint8_t kAssuranceVersion = 1;
inline constexpr std::size_t kAssuranceIdSize = 16;
inline constexpr std::size_t kExchangeIdSize = 16;
inline constexpr std::size_t kEscrowTokenSize = 16;
// Bounds of an assurance's texts (bytes of UTF-8).
inline constexpr std::size_t kMaxStatementSize = 4096;
inline constexpr std::size_t kMaxConditionSize = 1024;
inline constexpr std::size_t kMaxConditions = 16;
inline constexpr std::size_t kMaxScopeSize = 1024;
inline constexpr std::size_t kMaxEscrowRelayUrlSize = 256;
// Domain-separation prefixes of the signed byte strings (never valid as another document).
inline constexpr std::string_view kAssuranceSignContext = "backchannel-assurance-v1";
inline constexpr std::string_view kWithdrawalSignContext = "backchannel-assurance-withdrawal-v1";

using AssuranceId = std::array<std::uint8_t, kAssuranceIdSize>;
using ExchangeId = std::array<std::uint8_t, kExchangeIdSize>;
using EscrowToken = std::array<std::uint8_t, kEscrowTokenSize>;

// AssuranceMode: deniable assurances are authenticated only inside the session (a copy proves
// nothing to a third party); binding ones carry the issuer's XEdDSA signature.
enum class AssuranceMode : std::uint8_t { kDeniable = 1, kBinding = 2 };

[[nodiscard]] std::string_view assurance_mode_name(AssuranceMode mode) noexcept;

// Assurance is one pledge by `issuer` to `counterparty`.
struct Assurance {
  AssuranceId id{};
  AssuranceMode mode = AssuranceMode::kDeniable;
  IdentityKey issuer;
  IdentityKey counterparty;
  std::int64_t valid_from_ms = 0;
  std::int64_t valid_until_ms = 0;
  std::optional<AssuranceId> reciprocates;
  std::string statement;                // 1..4096 bytes of UTF-8
  std::vector<std::string> conditions;  // 0..16, each 1..1024 bytes of UTF-8
  std::optional<std::string> scope;     // 1..1024 bytes of UTF-8 when present
  std::optional<Signature> signature;   // present exactly when mode is kBinding

  // signed_bytes gives the canonical document without its signature (the bytes a binding
  // signature covers, after kAssuranceSignContext); kMalformed when a field breaks a bound.
  [[nodiscard]] Result<Bytes> signed_bytes() const;
  // encode gives signed_bytes() followed by the 64-byte signature of a binding assurance;
  // kMalformed when a field breaks a bound or the signature does not match the mode.
  [[nodiscard]] Result<Bytes> encode() const;
  // decode parses strictly (kMalformed on any deviation from the one canonical form,
  // kUnsupportedVersion for another version). It does not check the signature: verify does.
  [[nodiscard]] static Result<Assurance> decode(ByteView bytes);
  friend bool operator==(const Assurance&, const Assurance&) = default;
};

// sign_assurance sets the signature of a binding assurance made by `issuer` (whose public key
// must be a.issuer); kMalformed for a deniable assurance or a wrong key. `a` is unchanged on
// failure.
[[nodiscard]] Result<void> sign_assurance(Assurance& a, const IdentityKeyPair& issuer, Rng& rng);
// verify_assurance checks a binding assurance's signature against its issuer key; kAuthFailed
// when it is deniable (it proves nothing) or when the signature does not verify.
[[nodiscard]] Result<void> verify_assurance(const Assurance& a);

// Withdrawal retracts an assurance; signed by the issuer when the assurance was binding.
struct Withdrawal {
  AssuranceId assurance_id{};
  AssuranceMode mode = AssuranceMode::kDeniable;
  IdentityKey issuer;
  std::int64_t withdrawn_at_ms = 0;
  std::optional<Signature> signature;  // present exactly when mode is kBinding

  [[nodiscard]] Result<Bytes> signed_bytes() const;
  [[nodiscard]] Result<Bytes> encode() const;
  [[nodiscard]] static Result<Withdrawal> decode(ByteView bytes);
  friend bool operator==(const Withdrawal&, const Withdrawal&) = default;
};

// sign_withdrawal / verify_withdrawal as for assurances (kAuthFailed when unsigned or wrong).
[[nodiscard]] Result<void> sign_withdrawal(Withdrawal& w, const IdentityKeyPair& issuer, Rng& rng);
[[nodiscard]] Result<void> verify_withdrawal(const Withdrawal& w);

// Acknowledgement: the counterparty has read an assurance (authenticated by the session only).
struct Acknowledgement {
  AssuranceId assurance_id{};
  std::int64_t acknowledged_at_ms = 0;

  [[nodiscard]] Bytes encode() const;
  [[nodiscard]] static Result<Acknowledgement> decode(ByteView bytes);
  friend bool operator==(const Acknowledgement&, const Acknowledgement&) = default;
};

// EscrowInvitation tells the counterparty, inside the session, that an exchange is open for it
// on a relay: what it needs to deposit and nothing of what the opener will deposit.
struct EscrowInvitation {
  ExchangeId exchange_id{};
  EscrowToken token{};  // the counterparty's token (token_b)
  std::int64_t deadline_ms = 0;
  std::string relay_url;  // wss://HOST:PORT, at most 256 bytes
  std::array<std::uint8_t, 32> relay_certificate_sha256{};

  [[nodiscard]] Result<Bytes> encode() const;
  [[nodiscard]] static Result<EscrowInvitation> decode(ByteView bytes);
  friend bool operator==(const EscrowInvitation&, const EscrowInvitation&) = default;
};

// EscrowDeposit is what a party deposits (session-encrypted for the other side): the exchange
// it belongs to and the assurance itself.
struct EscrowDeposit {
  ExchangeId exchange_id{};
  Assurance assurance;

  [[nodiscard]] Result<Bytes> encode() const;
  [[nodiscard]] static Result<EscrowDeposit> decode(ByteView bytes);
};

// AssuranceMessageType tags the body of a PayloadKind::kAssurance payload.
enum class AssuranceMessageType : std::uint8_t {
  kAssurance = 1,
  kWithdrawal = 2,
  kAcknowledgement = 3,
  kEscrowInvitation = 4,
  kEscrowDeposit = 5,
};

// AssuranceMessage is a payload body: a type byte, then the encoded object.
struct AssuranceMessage {
  AssuranceMessageType type = AssuranceMessageType::kAssurance;
  Bytes body;

  [[nodiscard]] Bytes encode() const;
  // decode checks the type byte and that the body is not empty (the body itself is decoded
  // by the type's own decoder); kMalformed otherwise.
  [[nodiscard]] static Result<AssuranceMessage> decode(ByteView bytes);
};

// ---- lifecycle ----

// AssuranceState, in the order an assurance normally moves through them.
enum class AssuranceState : std::uint8_t {
  kProposed = 0,      // made by the issuer, not yet with the counterparty
  kDelivered = 1,     // issuer: accepted by the relay (or released); counterparty: received
  kAcknowledged = 2,  // the counterparty acknowledged it
  kReciprocated = 3,  // an assurance reciprocating it was made
  kWithdrawn = 4,     // the issuer withdrew it (final)
  kExpired = 5,       // its validity ended (final)
};
inline constexpr std::size_t kAssuranceStateCount = 6;

[[nodiscard]] std::string_view assurance_state_name(AssuranceState state) noexcept;
// assurance_state_from_name is the inverse; kMalformed for an unknown name.
[[nodiscard]] Result<AssuranceState> assurance_state_from_name(std::string_view name);

// Lifecycle is the state of one assurance and the time each state was entered (0: never).
struct Lifecycle {
  AssuranceState state = AssuranceState::kProposed;
  std::array<std::int64_t, kAssuranceStateCount> entered_ms{};

  // start is a lifecycle in `state` (kProposed or kDelivered) entered at `at_ms`.
  [[nodiscard]] static Lifecycle start(AssuranceState state, std::int64_t at_ms);
  [[nodiscard]] bool final() const noexcept {
    return state == AssuranceState::kWithdrawn || state == AssuranceState::kExpired;
  }
  friend bool operator==(const Lifecycle&, const Lifecycle&) = default;
};

// transition moves a lifecycle forward: proposed -> delivered -> acknowledged -> reciprocated
// (steps may be skipped: an acknowledgement proves delivery), and from any state that is not
// final to withdrawn or expired. kConflict (with the two state names) for anything else,
// including a move to the current state or out of a final one; kMalformed for a time before the
// last change. The input is not changed; the new lifecycle is returned.
[[nodiscard]] Result<Lifecycle> transition(const Lifecycle& from, AssuranceState to,
                                           std::int64_t at_ms);

// expire_if_due moves a lifecycle that is not final to kExpired when now_ms is past
// valid_until_ms (at valid_until_ms); otherwise returns it unchanged. Never fails.
[[nodiscard]] Lifecycle expire_if_due(const Lifecycle& from, std::int64_t valid_until_ms,
                                      std::int64_t now_ms);

}  // namespace bc::protocol
