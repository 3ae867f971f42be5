// backchannel-interop: drives one Backchannel peer over JSON lines on stdin/stdout, so that an
// independent implementation (libsignal-protocol-c) can talk to it. One response line per
// request line; errors are {"error":"..."} and the driver keeps going. HEX is lowercase hex,
// keys are in the 33-byte form. Sessions and identities are keyed by peer name (device 1);
// identities are trusted on first use and a different key later is refused.
//
//   {"op":"identity"} -> {"identity_key":HEX,"registration_id":N}
//   {"op":"bundle"} -> {"registration_id":N,"device_id":1,"identity_key":HEX,
//       "signed_prekey_id":N,"signed_prekey":HEX,"signed_prekey_signature":HEX,
//       "prekey_id":N,"prekey":HEX}                  (a fresh one-time prekey on every call)
//   {"op":"process_bundle","peer":NAME, ...bundle fields...} -> {"ok":true}
//   {"op":"encrypt","peer":NAME,"plaintext":HEX} -> {"type":3|2,"ciphertext":HEX}
//   {"op":"decrypt","peer":NAME,"type":3|2,"ciphertext":HEX} -> {"plaintext":HEX}
//   {"op":"fingerprint","peer":NAME} -> {"safety_number":"<60 digits>"}
//
// Options: --seed N uses a deterministic RNG (tests only); the default is the OS CSPRNG.
// Session records are serialized after every operation and parsed before the next, as a store
// would, so the driver exercises the record format too.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/bytes.hpp"
#include "crypto/random.hpp"
#include "protocol/keys.hpp"
#include "protocol/session_cipher.hpp"
#include "protocol/session_state.hpp"
#if __has_include("protocol/fingerprint.hpp")
#include "protocol/fingerprint.hpp"
#define BC_INTEROP_HAS_FINGERPRINT 1
#endif

namespace {

using bc::Bytes;
using bc::ByteView;
using bc::Errc;
using bc::fail;
using bc::Result;
using json = nlohmann::json;
namespace protocol = bc::protocol;

constexpr std::uint32_t kSignedPreKeyId = 1;

// Peer is what this driver remembers about one named peer.
struct Peer {
  std::optional<protocol::IdentityKey> identity;  // trusted on first use
  Bytes record;                                   // serialized SessionRecord (empty: none)
};

class Driver final : public protocol::PreKeyLookup {
 public:
  explicit Driver(bc::Rng& rng)
      : rng_(rng),
        identity_(protocol::IdentityKeyPair::generate(rng)),
        registration_id_(protocol::generate_registration_id(rng)),
        signed_prekey_(protocol::generate_signed_prekey(identity_, kSignedPreKeyId, 0, rng)) {}

  json handle(const json& request) {
    if (!request.is_object() || !request.contains("op") || !request["op"].is_string()) {
      return error("request has no op");
    }
    const std::string op = request["op"].get<std::string>();
    Result<json> out = fail(Errc::kMalformed, "unknown op");
    if (op == "identity") {
      out = json{{"identity_key", bc::to_hex(identity_.public_key().serialize())},
                 {"registration_id", registration_id_}};
    } else if (op == "bundle") {
      out = bundle();
    } else if (op == "process_bundle") {
      out = process_bundle(request);
    } else if (op == "encrypt") {
      out = encrypt(request);
    } else if (op == "decrypt") {
      out = decrypt(request);
    } else if (op == "fingerprint") {
      out = fingerprint(request);
    }
    if (!out) return error(out.error().message());
    return std::move(out).value();
  }

  const protocol::KeyPair* one_time_prekey(std::uint32_t id) const override {
    auto it = prekeys_.find(id);
    return it == prekeys_.end() ? nullptr : &it->second;
  }
  const protocol::KeyPair* signed_prekey(std::uint32_t id) const override {
    return id == signed_prekey_.id ? &signed_prekey_.pair : nullptr;
  }

 private:
  static json error(const std::string& message) { return json{{"error", message}}; }

  static Result<std::string> get_string(const json& j, const char* key) {
    if (!j.contains(key) || !j[key].is_string()) {
      return fail(Errc::kMalformed, std::string("missing string field ") + key);
    }
    return j[key].get<std::string>();
  }
  static Result<std::uint32_t> get_u32(const json& j, const char* key) {
    if (!j.contains(key) || !j[key].is_number_unsigned()) {
      return fail(Errc::kMalformed, std::string("missing unsigned field ") + key);
    }
    const auto v = j[key].get<std::uint64_t>();
    if (v > 0xFFFFFFFFULL) return fail(Errc::kMalformed, std::string("out of range: ") + key);
    return static_cast<std::uint32_t>(v);
  }
  static Result<Bytes> get_hex(const json& j, const char* key) {
    BC_ASSIGN_OR_RETURN(const std::string s, get_string(j, key));
    return bc::from_hex(s);
  }

  Result<json> bundle() {
    const std::uint32_t id = next_prekey_id_++;
    auto prekey = protocol::generate_prekey(id, rng_);
    json out{{"registration_id", registration_id_},
             {"device_id", 1},
             {"identity_key", bc::to_hex(identity_.public_key().serialize())},
             {"signed_prekey_id", signed_prekey_.id},
             {"signed_prekey", bc::to_hex(signed_prekey_.pair.public_key.serialize())},
             {"signed_prekey_signature", bc::to_hex(signed_prekey_.signature)},
             {"prekey_id", id},
             {"prekey", bc::to_hex(prekey.pair.public_key.serialize())}};
    prekeys_.emplace(id, std::move(prekey.pair));
    return out;
  }

  Result<protocol::SessionRecord> load(const Peer& peer) {
    if (peer.record.empty()) return protocol::SessionRecord();
    return protocol::SessionRecord::deserialize(peer.record);
  }
  static void save(Peer& peer, const protocol::SessionRecord& record) {
    bc::secure_zero(peer.record.data(), peer.record.size());
    peer.record.clear();
    record.serialize_to(peer.record);
  }

  Result<json> process_bundle(const json& r) {
    BC_ASSIGN_OR_RETURN(const std::string name, get_string(r, "peer"));
    protocol::PreKeyBundle b;
    BC_ASSIGN_OR_RETURN(b.registration_id, get_u32(r, "registration_id"));
    if (r.contains("device_id")) {
      BC_ASSIGN_OR_RETURN(b.device_id, get_u32(r, "device_id"));
    }
    BC_ASSIGN_OR_RETURN(const Bytes identity, get_hex(r, "identity_key"));
    BC_ASSIGN_OR_RETURN(b.identity_key, protocol::IdentityKey::decode(identity));
    BC_ASSIGN_OR_RETURN(b.signed_prekey_id, get_u32(r, "signed_prekey_id"));
    BC_ASSIGN_OR_RETURN(const Bytes spk, get_hex(r, "signed_prekey"));
    BC_ASSIGN_OR_RETURN(b.signed_prekey, protocol::PublicKey::decode(spk));
    BC_ASSIGN_OR_RETURN(const Bytes sig, get_hex(r, "signed_prekey_signature"));
    if (sig.size() != protocol::kSignatureSize) {
      return fail(Errc::kMalformed, "signature is not 64 bytes");
    }
    std::copy(sig.begin(), sig.end(), b.signed_prekey_signature.begin());
    if (r.contains("prekey") && !r["prekey"].is_null()) {
      BC_ASSIGN_OR_RETURN(const std::uint32_t id, get_u32(r, "prekey_id"));
      BC_ASSIGN_OR_RETURN(const Bytes pk, get_hex(r, "prekey"));
      BC_ASSIGN_OR_RETURN(const protocol::PublicKey key, protocol::PublicKey::decode(pk));
      b.prekey_id = id;
      b.prekey = key;
    }
    Peer& peer = peers_[name];
    if (peer.identity && !(*peer.identity == b.identity_key)) {
      return fail(Errc::kUntrustedIdentity, "identity key of " + name + " changed");
    }
    BC_ASSIGN_OR_RETURN(protocol::SessionRecord record, load(peer));
    BC_TRY(protocol::process_prekey_bundle(record, identity_, registration_id_, b, rng_));
    peer.identity = b.identity_key;
    save(peer, record);
    return json{{"ok", true}};
  }

  Result<json> encrypt(const json& r) {
    BC_ASSIGN_OR_RETURN(const std::string name, get_string(r, "peer"));
    BC_ASSIGN_OR_RETURN(const Bytes plaintext, get_hex(r, "plaintext"));
    auto it = peers_.find(name);
    if (it == peers_.end()) return fail(Errc::kNotFound, "no session with " + name);
    BC_ASSIGN_OR_RETURN(protocol::SessionRecord record, load(it->second));
    BC_ASSIGN_OR_RETURN(const protocol::CiphertextMessage m, protocol::encrypt(record, plaintext));
    save(it->second, record);
    return json{{"type", static_cast<int>(m.type)}, {"ciphertext", bc::to_hex(m.serialized)}};
  }

  Result<json> decrypt(const json& r) {
    BC_ASSIGN_OR_RETURN(const std::string name, get_string(r, "peer"));
    BC_ASSIGN_OR_RETURN(const std::uint32_t type, get_u32(r, "type"));
    BC_ASSIGN_OR_RETURN(const Bytes ciphertext, get_hex(r, "ciphertext"));
    Peer& peer = peers_[name];
    BC_ASSIGN_OR_RETURN(protocol::SessionRecord record, load(peer));
    Bytes plaintext;
    if (type == static_cast<std::uint32_t>(protocol::MessageType::kPreKey)) {
      BC_ASSIGN_OR_RETURN(protocol::PreKeyDecryption d,
                          protocol::decrypt_prekey_message(record, identity_, registration_id_,
                                                           *this, ciphertext, rng_, peer.identity));
      peer.identity = d.sender_identity;
      if (d.used_prekey_id) prekeys_.erase(*d.used_prekey_id);
      plaintext = std::move(d.plaintext);
    } else if (type == static_cast<std::uint32_t>(protocol::MessageType::kSignal)) {
      BC_ASSIGN_OR_RETURN(plaintext, protocol::decrypt_message(record, ciphertext, rng_));
    } else {
      return fail(Errc::kMalformed, "unknown message type");
    }
    save(peer, record);
    return json{{"plaintext", bc::to_hex(plaintext)}};
  }

  Result<json> fingerprint(const json& r) {
    BC_ASSIGN_OR_RETURN(const std::string name, get_string(r, "peer"));
    auto it = peers_.find(name);
    if (it == peers_.end() || !it->second.identity) {
      return fail(Errc::kNotFound, "no identity known for " + name);
    }
#ifdef BC_INTEROP_HAS_FINGERPRINT
    const auto local = identity_.public_key().serialize();
    const auto remote = it->second.identity->serialize();
    BC_ASSIGN_OR_RETURN(const protocol::Fingerprint f,
                        protocol::compute_fingerprint(local, remote));
    return json{{ "safety_number", f.displayable() }};
#else
    return fail(Errc::kUnavailable, "safety numbers are not built into this driver");
#endif
  }

  bc::Rng& rng_;
  protocol::IdentityKeyPair identity_;
  std::uint32_t registration_id_;
  protocol::SignedPreKeyRecord signed_prekey_;
  std::map<std::uint32_t, protocol::KeyPair> prekeys_;
  std::uint32_t next_prekey_id_ = 1;
  std::map<std::string, Peer> peers_;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    std::unique_ptr<bc::Rng> rng;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--seed" && i + 1 < argc) {
        rng = std::make_unique<bc::crypto::DeterministicRng>(std::stoull(argv[++i]));
      } else {
        std::cerr << "usage: backchannel-interop [--seed N]\n";
        return 2;
      }
    }
    if (!rng) {
      bc::secure_memory::harden_process();
      rng = std::make_unique<bc::crypto::SystemRng>();
    }
    Driver driver(*rng);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      json response;
      json request = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (request.is_discarded()) {
        response = json{{"error", "request is not valid JSON"}};
      } else {
        response = driver.handle(request);
      }
      std::cout << response.dump() << '\n' << std::flush;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "backchannel-interop: " << e.what() << '\n';
    return 1;
  }
}
