#include "protocol/invitation.hpp"

#include <algorithm>

#include "wire/protobuf.hpp"

namespace bc::protocol {
namespace {

Bytes be64(std::int64_t v) {
  Bytes out(8);
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(u >> (56 - 8 * i));
  return out;
}

Result<void> check_relay(const RelayAddress& relay) {
  if (relay.url.size() > kMaxRelayUrlSize) return fail(Errc::kMalformed, "relay URL too long");
  if (!relay.url.starts_with("wss://") || relay.url.size() <= 6) {
    return fail(Errc::kMalformed, "relay URL must start with wss://");
  }
  return ok();
}

Bytes encode_relay(const RelayAddress& relay) {
  Bytes out;
  wire::ProtoWriter w(out);
  w.bytes_field(1, as_bytes(relay.url));
  w.bytes_field(2, relay.certificate_sha256);
  w.bytes_field(3, relay.queue);
  w.bytes_field(4, relay.relay_key);
  return out;
}

template <std::size_t N>
Result<void> copy_exact(ByteView from, std::array<std::uint8_t, N>& to, const char* what) {
  if (from.size() != N) return fail(Errc::kMalformed, std::string(what) + " has the wrong length");
  std::copy(from.begin(), from.end(), to.begin());
  return ok();
}

Result<RelayAddress> decode_relay(ByteView bytes) {
  wire::ProtoReader r(bytes);
  RelayAddress relay;
  unsigned seen = 0;
  while (!r.done()) {
    BC_ASSIGN_OR_RETURN(const wire::ProtoField f, r.next());
    if (f.type != wire::WireType::kLengthDelimited) {
      return fail(Errc::kMalformed, "relay address field has the wrong type");
    }
    switch (f.number) {
      case 1:
        relay.url = to_string(f.bytes);
        break;
      case 2:
        BC_TRY(copy_exact(f.bytes, relay.certificate_sha256, "relay fingerprint"));
        break;
      case 3:
        BC_TRY(copy_exact(f.bytes, relay.queue, "queue address"));
        break;
      case 4:
        BC_TRY(copy_exact(f.bytes, relay.relay_key, "relay signing key"));
        break;
      default:
        continue;
    }
    seen |= 1U << f.number;
  }
  if (seen != 0b11110) return fail(Errc::kMalformed, "relay address is missing a field");
  BC_TRY(check_relay(relay));
  return relay;
}

}  // namespace

Result<Bytes> Invitation::encode() const {
  if (relays.empty() || relays.size() > kMaxRelaysPerInvitation) {
    return fail(Errc::kMalformed, "an invitation names one or two relays");
  }
  for (const auto& relay : relays) BC_TRY(check_relay(relay));
  if (name.size() > kMaxNameSize) return fail(Errc::kMalformed, "name too long");
  if (bundle.prekey_id.has_value() != bundle.prekey.has_value()) {
    return fail(Errc::kMalformed, "one-time prekey without its id");
  }
  Bytes out;
  wire::ProtoWriter w(out);
  w.uint32_field(1, kInvitationVersion);
  w.bytes_field(2, id);
  w.bytes_field(3, bundle.identity_key.serialize());
  w.bytes_field(4, as_bytes(name));
  w.uint32_field(5, bundle.registration_id);
  w.uint32_field(6, bundle.signed_prekey_id);
  w.bytes_field(7, bundle.signed_prekey.serialize());
  w.bytes_field(8, bundle.signed_prekey_signature);
  if (bundle.prekey_id) {
    w.uint32_field(9, *bundle.prekey_id);
    w.bytes_field(10, bundle.prekey->serialize());
  }
  w.bytes_field(11, encode_relay(relays[0]));
  if (relays.size() > 1) w.bytes_field(12, encode_relay(relays[1]));
  w.bytes_field(13, be64(expires_at_ms));
  return out;
}

Result<Invitation> Invitation::decode(ByteView bytes) {
  wire::ProtoReader r(bytes);
  Invitation inv;
  std::uint32_t seen = 0;
  while (!r.done()) {
    BC_ASSIGN_OR_RETURN(const wire::ProtoField f, r.next());
    const bool varint = f.type == wire::WireType::kVarint;
    const bool expect_varint = f.number == 1 || f.number == 5 || f.number == 6 || f.number == 9;
    if (f.number <= 13 && varint != expect_varint) {
      return fail(Errc::kMalformed, "invitation field has the wrong type");
    }
    switch (f.number) {
      case 1:
        if (f.varint == 1) {
          return fail(Errc::kUnsupportedVersion,
                      "this invitation was made by an older Backchannel (version 1, without the "
                      "relay's signing key): ask for a new one");
        }
        if (f.varint != kInvitationVersion) {
          return fail(Errc::kUnsupportedVersion, "invitation version " + std::to_string(f.varint));
        }
        break;
      case 2:
        BC_TRY(copy_exact(f.bytes, inv.id, "invitation id"));
        break;
      case 3: {
        BC_ASSIGN_OR_RETURN(inv.bundle.identity_key, IdentityKey::decode(f.bytes));
        break;
      }
      case 4:
        if (f.bytes.size() > kMaxNameSize) return fail(Errc::kMalformed, "name too long");
        inv.name = to_string(f.bytes);
        break;
      case 5:
        inv.bundle.registration_id = f.varint;
        break;
      case 6:
        inv.bundle.signed_prekey_id = f.varint;
        break;
      case 7: {
        BC_ASSIGN_OR_RETURN(inv.bundle.signed_prekey, PublicKey::decode(f.bytes));
        break;
      }
      case 8:
        BC_TRY(copy_exact(f.bytes, inv.bundle.signed_prekey_signature, "signature"));
        break;
      case 9:
        inv.bundle.prekey_id = f.varint;
        break;
      case 10: {
        BC_ASSIGN_OR_RETURN(inv.bundle.prekey, PublicKey::decode(f.bytes));
        break;
      }
      case 11:
      case 12: {
        BC_ASSIGN_OR_RETURN(RelayAddress relay, decode_relay(f.bytes));
        inv.relays.push_back(std::move(relay));
        break;
      }
      case 13: {
        if (f.bytes.size() != 8) return fail(Errc::kMalformed, "expiry has the wrong length");
        std::uint64_t u = 0;
        for (const auto b : f.bytes) u = (u << 8) | b;
        inv.expires_at_ms = static_cast<std::int64_t>(u);
        break;
      }
      default:
        continue;
    }
    seen |= 1U << f.number;
  }
  constexpr std::uint32_t kRequired = (1U << 1) | (1U << 2) | (1U << 3) | (1U << 4) | (1U << 5) |
                                      (1U << 6) | (1U << 7) | (1U << 8) | (1U << 11) | (1U << 13);
  if ((seen & kRequired) != kRequired)
    return fail(Errc::kMalformed, "invitation is missing a field");
  if (((seen >> 9) & 1U) != ((seen >> 10) & 1U)) {
    return fail(Errc::kMalformed, "one-time prekey without its id");
  }
  return inv;
}

Result<std::string> Invitation::to_code() const {
  BC_ASSIGN_OR_RETURN(const Bytes bytes, encode());
  return std::string(kInvitationCodePrefix) + to_base64url(bytes);
}

Result<Invitation> Invitation::from_code(std::string_view code) {
  const auto first = code.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return fail(Errc::kMalformed, "empty invitation code");
  code = code.substr(first, code.find_last_not_of(" \t\r\n") - first + 1);
  if (!code.starts_with(kInvitationCodePrefix)) {
    return fail(Errc::kMalformed, "not an invitation code (it must start with bc1)");
  }
  if (code.size() > 4096) return fail(Errc::kMalformed, "invitation code too long");
  auto bytes = from_base64url(code.substr(kInvitationCodePrefix.size()));
  if (!bytes) return fail(Errc::kMalformed, "invitation code is damaged (bad characters)");
  auto inv = decode(*bytes);
  if (!inv) {
    if (inv.error().code == Errc::kUnsupportedVersion) return inv;
    return fail(Errc::kMalformed, "invitation code is damaged: " + inv.error().detail);
  }
  return inv;
}

}  // namespace bc::protocol
