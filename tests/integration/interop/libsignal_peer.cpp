// libsignal-peer: a test-only program driving one libsignal-protocol-c peer over JSON lines on
// stdin/stdout (the protocol of apps/backchannel-interop), one response line per request line.
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/bytes.hpp"
#include "integration/interop/signal_support.hpp"

namespace {

using bc::interop::SignalBundle;
using bc::interop::SignalPeer;
using nlohmann::json;

// RequestError is a malformed request; reported as {"error":...} like a libsignal failure.
struct RequestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const json& field(const json& request, const char* name) {
  auto it = request.find(name);
  if (it == request.end()) throw RequestError(std::string("missing field \"") + name + "\"");
  return *it;
}

std::string string_field(const json& request, const char* name) {
  const json& value = field(request, name);
  if (!value.is_string()) throw RequestError(std::string("\"") + name + "\" must be a string");
  return value.get<std::string>();
}

std::uint32_t uint_field(const json& request, const char* name) {
  const json& value = field(request, name);
  if (!value.is_number_unsigned() || value.get<std::uint64_t>() > UINT32_MAX) {
    throw RequestError(std::string("\"") + name + "\" must be an unsigned 32-bit integer");
  }
  return value.get<std::uint32_t>();
}

bc::Bytes hex_field(const json& request, const char* name) {
  auto bytes = bc::from_hex(string_field(request, name));
  if (!bytes) throw RequestError(std::string("\"") + name + "\" is not hex");
  return std::move(bytes).value();
}

std::string peer_name(const json& request) {
  std::string name = string_field(request, "peer");
  if (name.empty() || name.size() > 256) throw RequestError("\"peer\" must be 1 to 256 bytes");
  return name;
}

json handle(SignalPeer& peer, const json& request) {
  if (!request.is_object()) throw RequestError("request must be a JSON object");
  const std::string op = string_field(request, "op");
  if (op == "identity") {
    return {{"identity_key", bc::to_hex(peer.identity_key())},
            {"registration_id", peer.registration_id()}};
  }
  if (op == "bundle") {
    const SignalBundle b = peer.bundle();
    return {{"registration_id", b.registration_id},
            {"device_id", b.device_id},
            {"identity_key", bc::to_hex(b.identity_key)},
            {"signed_prekey_id", b.signed_prekey_id},
            {"signed_prekey", bc::to_hex(b.signed_prekey)},
            {"signed_prekey_signature", bc::to_hex(b.signed_prekey_signature)},
            {"prekey_id", b.prekey_id},
            {"prekey", bc::to_hex(b.prekey)}};
  }
  if (op == "process_bundle") {
    SignalBundle b;
    b.registration_id = uint_field(request, "registration_id");
    b.device_id =
        static_cast<int>(request.contains("device_id") ? uint_field(request, "device_id") : 1);
    b.identity_key = hex_field(request, "identity_key");
    b.signed_prekey_id = uint_field(request, "signed_prekey_id");
    b.signed_prekey = hex_field(request, "signed_prekey");
    b.signed_prekey_signature = hex_field(request, "signed_prekey_signature");
    b.prekey_id = uint_field(request, "prekey_id");
    b.prekey = hex_field(request, "prekey");
    peer.process_bundle(peer_name(request), b);
    return {{"ok", true}};
  }
  if (op == "encrypt") {
    const auto message = peer.encrypt(peer_name(request), hex_field(request, "plaintext"));
    return {{"type", message.type}, {"ciphertext", bc::to_hex(message.data)}};
  }
  if (op == "decrypt") {
    const std::uint32_t type = uint_field(request, "type");
    if (type != 2 && type != 3) throw RequestError("\"type\" must be 3 or 2");
    const bc::Bytes plaintext =
        peer.decrypt(peer_name(request), static_cast<int>(type), hex_field(request, "ciphertext"));
    return {{"plaintext", bc::to_hex(plaintext)}};
  }
  if (op == "fingerprint") {
    return {{"safety_number", peer.safety_number(peer_name(request))}};
  }
  throw RequestError("unknown op \"" + op + "\"");
}

}  // namespace

int main() {
  try {
    SignalPeer peer;
    std::string line;
    while (std::getline(std::cin, line)) {
      json response;
      try {
        response = handle(peer, json::parse(line));
      } catch (const std::exception& e) {
        // json::dump replaces invalid UTF-8 so an echoed fragment cannot break the line.
        response = {{"error", e.what()}};
      }
      std::cout << response.dump(-1, ' ', false, json::error_handler_t::replace) << '\n'
                << std::flush;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "libsignal-peer: " << e.what() << '\n';
    return 1;
  }
}
