#include "wire/whisper.hpp"

#include <algorithm>

#include "wire/protobuf.hpp"

namespace bc::wire {
namespace {

Result<std::uint8_t> check_version(std::uint8_t version) {
  if (version != kVersionByte && version != kVersionByteV4Peer) {
    return fail(Errc::kUnsupportedVersion, "unsupported message version");
  }
  return version;
}

Result<SerializedKey> read_key(const ProtoField& field) {
  if (field.type != WireType::kLengthDelimited || field.bytes.size() != kSerializedKeySize) {
    return fail(Errc::kMalformed, "key field is not 33 bytes");
  }
  SerializedKey key{};
  std::copy(field.bytes.begin(), field.bytes.end(), key.begin());
  return key;
}

Result<std::uint32_t> read_uint32(const ProtoField& field) {
  if (field.type != WireType::kVarint) return fail(Errc::kMalformed, "expected a varint field");
  return field.varint;
}

Result<ByteView> read_bytes(const ProtoField& field) {
  if (field.type != WireType::kLengthDelimited) {
    return fail(Errc::kMalformed, "expected a bytes field");
  }
  return field.bytes;
}

}  // namespace

void encode_signal_message_body(const SignalMessageFields& fields, Bytes& out) {
  out.reserve(out.size() + 1 + 2 + kSerializedKeySize + 12 + 4 + fields.ciphertext.size() +
              kMacSize);
  out.push_back(fields.version);
  ProtoWriter writer(out);
  writer.bytes_field(1, fields.ratchet_key);
  writer.uint32_field(2, fields.counter);
  writer.uint32_field(3, fields.previous_counter);
  writer.bytes_field(4, fields.ciphertext);
}

Result<DecodedSignalMessage> decode_signal_message(ByteView bytes) {
  if (bytes.size() > kMaxSignalMessageSize) {
    return fail(Errc::kLimitExceeded, "SignalMessage too large");
  }
  if (bytes.size() < 1 + kMacSize) return fail(Errc::kMalformed, "SignalMessage too short");
  DecodedSignalMessage out;
  BC_ASSIGN_OR_RETURN(out.fields.version, check_version(bytes[0]));
  out.authenticated = bytes.first(bytes.size() - kMacSize);
  std::copy(bytes.end() - kMacSize, bytes.end(), out.mac.begin());

  ProtoReader reader(out.authenticated.subspan(1));
  unsigned seen = 0;
  while (!reader.done()) {
    BC_ASSIGN_OR_RETURN(const ProtoField field, reader.next());
    switch (field.number) {
      case 1: {
        BC_ASSIGN_OR_RETURN(out.fields.ratchet_key, read_key(field));
        break;
      }
      case 2: {
        BC_ASSIGN_OR_RETURN(out.fields.counter, read_uint32(field));
        break;
      }
      case 3: {
        BC_ASSIGN_OR_RETURN(out.fields.previous_counter, read_uint32(field));
        break;
      }
      case 4: {
        BC_ASSIGN_OR_RETURN(out.fields.ciphertext, read_bytes(field));
        if (out.fields.ciphertext.empty()) return fail(Errc::kMalformed, "empty ciphertext");
        break;
      }
      default:
        return fail(Errc::kMalformed, "SignalMessage: unknown field");
    }
    ++seen;
  }
  // Fields are strictly increasing and each is one of 1..4: four fields means all of them.
  if (seen != 4) return fail(Errc::kMalformed, "SignalMessage: missing field");
  return out;
}

void encode_prekey_signal_message(const PreKeySignalMessageFields& fields, Bytes& out) {
  out.reserve(out.size() + 1 + 6 + 2 * (2 + kSerializedKeySize) + 4 + fields.message.size() + 12);
  out.push_back(fields.version);
  ProtoWriter writer(out);
  if (fields.prekey_id) writer.uint32_field(1, *fields.prekey_id);
  writer.bytes_field(2, fields.base_key);
  writer.bytes_field(3, fields.identity_key);
  writer.bytes_field(4, fields.message);
  writer.uint32_field(5, fields.registration_id);
  writer.uint32_field(6, fields.signed_prekey_id);
}

Result<PreKeySignalMessageFields> decode_prekey_signal_message(ByteView bytes) {
  if (bytes.size() > kMaxPreKeySignalMessageSize) {
    return fail(Errc::kLimitExceeded, "PreKeySignalMessage too large");
  }
  if (bytes.empty()) return fail(Errc::kMalformed, "PreKeySignalMessage empty");
  PreKeySignalMessageFields out;
  BC_ASSIGN_OR_RETURN(out.version, check_version(bytes[0]));
  ProtoReader reader(bytes.subspan(1));
  unsigned required = 0;
  while (!reader.done()) {
    BC_ASSIGN_OR_RETURN(const ProtoField field, reader.next());
    switch (field.number) {
      case 1: {
        BC_ASSIGN_OR_RETURN(const std::uint32_t id, read_uint32(field));
        out.prekey_id = id;
        continue;  // optional
      }
      case 2: {
        BC_ASSIGN_OR_RETURN(out.base_key, read_key(field));
        break;
      }
      case 3: {
        BC_ASSIGN_OR_RETURN(out.identity_key, read_key(field));
        break;
      }
      case 4: {
        BC_ASSIGN_OR_RETURN(out.message, read_bytes(field));
        if (out.message.empty()) return fail(Errc::kMalformed, "empty inner message");
        break;
      }
      case 5: {
        BC_ASSIGN_OR_RETURN(out.registration_id, read_uint32(field));
        break;
      }
      case 6: {
        BC_ASSIGN_OR_RETURN(out.signed_prekey_id, read_uint32(field));
        break;
      }
      default:
        return fail(Errc::kMalformed, "PreKeySignalMessage: unknown field");
    }
    ++required;
  }
  if (required != 5) return fail(Errc::kMalformed, "PreKeySignalMessage: missing field");
  return out;
}

}  // namespace bc::wire
